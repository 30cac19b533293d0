"""Per-provider domain apps still living here until each moves into providers/<name>/.
The core reaches them only through their Provider class (kyc.registry)."""
