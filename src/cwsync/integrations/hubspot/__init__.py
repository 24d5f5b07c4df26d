"""Two-way CRM sync between ConnectWise Manage and HubSpot (HS-1..11)."""
