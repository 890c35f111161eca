"""datatrove steps for curate: a reader for every source schema, classifier scoring and score
thresholds. (The spec builder, language ID, heuristics, dedup and the run report are issue #6's
remaining work.)"""
