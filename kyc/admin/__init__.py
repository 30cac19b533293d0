"""Admin for compliance staff, one module per part of the admin (Django autodiscovers
`kyc.admin`, so every module that registers a model admin is imported here).

- base: merchant scoping, roles (kyc.permissions) and the shared admin classes
- columns: readable evidence (time, badge and table columns, links); confirm: the page a
  destructive action shows first
- merchants: merchants, memberships, API keys, provider accounts
- records: KYC records, identity fields, certificate promises, certificates
- review: the compliance workspace (queue, review page, assign, reveal, erase)
- transfers: verification requests and their events; deliveries: stored provider deliveries
- audit: the audit trail (entries, chain status, export); webhooks: outgoing deliveries
- twofactor: staff authenticators; site: view-on-site and the permissions staff need
"""

from kyc.admin import (  # noqa: F401  (each registers its model admins)
    audit,
    deliveries,
    merchants,
    records,
    transfers,
    twofactor,
    webhooks,
)
from kyc.admin.site import staff_permissions, view_on_site

__all__ = ["staff_permissions", "view_on_site"]
