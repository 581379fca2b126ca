"""The camera side: the factory's record of each device, claim codes that prove
possession when an owner binds one (issue 12)."""
