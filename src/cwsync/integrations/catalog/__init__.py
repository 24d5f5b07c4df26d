"""Product catalog → HubSpot products and quote → ConnectWise opportunity (SB-1 … SB-6).

The package root imports nothing so that `cwsync.config.model` can import `config` without a cycle.
"""
