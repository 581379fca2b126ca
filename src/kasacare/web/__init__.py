"""The web app for owners and the support console: server-rendered pages on the same
services as the API, so no rule is written twice."""
