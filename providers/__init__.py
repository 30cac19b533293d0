"""Pure provider adapters. Nothing here imports kyc or portal, nor touches the ORM."""
