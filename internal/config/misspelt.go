package config

import "strings"

// Misspelt is a VASPD_* environment variable that is no setting's but
// close to one's: most likely that one misspelt, which vaspd would
// otherwise ignore without a word (VASPD_DATABSE_URL leaves database-url
// at its default, SQLite in ./vaspd-data).
type Misspelt struct {
	Variable string // as set, e.g. VASPD_DATABSE_URL
	Setting  string // the setting it is close to, e.g. database-url
	Env      string // that setting's variable, VASPD_DATABASE_URL
}

// MisspeltVariables lists environ's VASPD_* variables (environ as
// os.Environ gives it: NAME=value) that name no setting but are at most
// two edits (a letter added, dropped or changed) from a setting's
// variable. Only names are read, never values. Variables of vaspd's other
// tools (VASPD_URL, VASPD_CLIENT_ID, test settings) are far from every
// setting's, so they are not listed.
func (c *Set) MisspeltVariables(environ []string) []Misspelt {
	var out []Misspelt
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "VASPD_") {
			continue
		}
		var best *Setting
		bestDist := 3
		for _, s := range c.list {
			if s.Env() == name {
				best = nil
				break
			}
			if d := editDistance(strings.ToUpper(name), s.Env(), bestDist); d < bestDist {
				best, bestDist = s, d
			}
		}
		if best != nil {
			out = append(out, Misspelt{Variable: name, Setting: best.Name, Env: best.Env()})
		}
	}
	return out
}

// editDistance is the Levenshtein distance of a and b (bytes), or max if
// it is max or more.
func editDistance(a, b string, max int) int {
	if d := len(a) - len(b); d >= max || -d >= max {
		return max
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= max {
			return max
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], max)
}
