"""Legacy: grandfathered Kasa Care subscriptions, imported, renewed, cancelled or migrated."""
