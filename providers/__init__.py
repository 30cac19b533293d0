"""The providers: one folder (and Django app) each, behind one `kyc.contract.Provider`
subclass in its provider.py, and the plumbing they share below them (http, errors, forms,
links, renewal, sandbox_kit), which imports no provider."""
