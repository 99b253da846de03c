"""Pictures of the model: terminal views (address-space bar, maps diff, call-flow tree)
and a self-contained HTML report of a log or a demo scenario."""
