// Package users keeps the users of this VASP: the UMAaaS IndividualUser and
// BusinessUser, with the UMA address, KYC status and preferred currencies
// the UMA flows need.
//
// A user's UMA address is stored as its normalised local part ("alice" for
// $alice@our.domain, see [NormalizeLocal] and [ParseAddress]); the domain is
// the VASP's, added when rendering ([User.UMAAddress]). Local parts follow
// the uma package's address rules and are unique among live users only:
// deleting a user (a soft delete, [Service.Delete]) frees the address for
// someone new while the old user's history stays.
//
// Preferred currencies are checked against the rates provider given with
// [WithRates]; a user created without any gets the provider's first one.
// Personal data (name, birth date, address, bank account, business info) is
// validated on the way in and kept as one JSON document per user.
//
// Reads take a store.Querier and writes a *store.Tx, so callers compose
// them with other writes — a deposit locks the user ([Service.Lock]) and
// records its ledger movement in one transaction. What the users package
// cannot see refuses a delete through the checks added with
// [Service.OnDelete] (the payments in flight of package vasp), run in
// Delete's transaction; [Service.CheckLive] in a transaction share-locks
// the user's row, so that a payment recorded after it and a delete are
// ordered. Errors a platform client
// can cause are *vaspd.Error values with UMAaaS codes (USER_NOT_FOUND,
// UMA_ADDRESS_EXISTS, INVALID_UMA_ADDRESS, INVALID_CURRENCY, INVALID_INPUT,
// GONE).
package users
