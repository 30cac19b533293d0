"""CorePass KYC-transfer: a merchant asks a customer (known by CoreID) for verified items.

Wire facts (proven against the samples in CorePass's KYC transfer document and its public SDKs):

- CoreID: ICAN address, 2-letter network prefix + 2 mod-97 check digits + 40 hex digits.
- Callbacks are signed with Ed448: base64 of the 114-byte signature followed by the
  57-byte public key of the connector. We verify with the key the merchant configured
  and also require the embedded key to equal it.
- Status callback message: SHA3-256 of the compact JSON {user, fields, status,
  expiration, deadline[, tx_hash]}; `fields` are SHA3-256 hex digests of the item ids.
- Data callback message: the raw bytes ``{"Deadline":N}`` + newline (not hashed), so the
  signature proves origin and freshness only; the data is bound to its request by the
  unguessable per-request callback URL, the user check, the pepper check and single use.
- Error callback: no known message verifies its signature. Policy: an error callback is
  only a *hint*; it is stored, and the request is failed only after the connector's own
  ``/api/v1/kyc/status`` confirms a failed status (see providers/corepass/services.py).

Any-document items
------------------
CorePass items name a document (``SH_Passport_DOB``). A merchant who does not care
which document may ask for ``SH_ANY_<FIELD>`` (``ANY_<FIELD>`` is accepted as a
shorthand), e.g. ``SH_ANY_DOB`` or ``SH_ANY_FULLNAME``. The portal asks
``/api/v1/blockchain/verified`` for the four concrete variants (IDCard, Passport,
ResidencePermit, DriverLicense, in that order of preference) and requests the first
verified one; several any-items prefer one document that has all of them. When no
document has the field verified, the request fails with ``items_not_verified`` and
tells the customer to complete KYC in the CorePass app.
"""
