package daemon

import "testing"

// A database URL from a variable filled from a file ends in a line end:
// the SQLite file is the one named, not "vaspd.db\n", created empty (with
// new keys, no tokens and an empty ledger) beside the real one.
func TestDatabasePathIsTrimmed(t *testing.T) {
	t.Parallel()
	c := parseConfig(t, nil, map[string]string{"VASPD_DATABASE_URL": "sqlite:/var/lib/vaspd/vaspd.db\n",
		"VASPD_DEVNET_SECRET": "s3cret\r\n", "VASPD_DEVNET_PEERS": "http://peer.example:8080\n"})
	if err := c.Resolve(); err != nil {
		t.Fatal(err)
	}
	if kind, path := c.databaseKind(); kind != "sqlite" || path != "/var/lib/vaspd/vaspd.db" {
		t.Errorf("database %s %q, want sqlite /var/lib/vaspd/vaspd.db", kind, path)
	}
	if c.Lightning.DevnetSecret != "s3cret" {
		t.Errorf("devnet-secret %q, want s3cret", c.Lightning.DevnetSecret)
	}
}
