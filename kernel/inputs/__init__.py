"""Reading input safely: YAML and JSON with locations, the committed JSON Schemas, name hints."""
