"""One vocabulary: every signal of shoplab named once, with its PromQL (see `signals.catalog`)."""
