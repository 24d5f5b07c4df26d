"""The console's configuration screens (#14): integrations, field mappings, filters, Hudu, catalog, change
management and config versions, all editing the one configuration file through `editor.ConfigEditor`."""
