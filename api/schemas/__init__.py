"""Request and response models of the REST contract (separate from the ORM), one module per feature.
Field and schema names are a contract: integrators generate their clients from them."""
