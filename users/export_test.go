package users

// Crash makes im stop as a process that died would when its context ends:
// it hands back nothing, and its job waits for its lease to end.
func Crash(im *Importer) { im.crash = true }

// Normalize is the validation Create (and so POST /users) applies to u.
func Normalize(u *User) error { return u.normalize() }
