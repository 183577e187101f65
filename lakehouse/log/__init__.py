"""Reading the Delta log from storage: listings, `_last_checkpoint`, commits and checkpoints."""
