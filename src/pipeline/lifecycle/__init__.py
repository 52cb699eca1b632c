"""The tier lifecycle: the machine table, its guards, the decision kernel, the event factory and the chain seal."""
