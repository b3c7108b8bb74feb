package daemon

import "testing"

// listen's port is checked at start, as the listener will take it: a
// port out of range, negative, empty or no service's name is refused,
// naming listen (not base-url or domain, which were derived from it and
// which the operator did not set), so that `vaspd config show` refuses
// what serve would. A named port is taken as its number.
func TestListenMustHaveAValidPort(t *testing.T) {
	t.Parallel()
	for _, l := range []string{"127.0.0.1:99999", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:", ":", "127.0.0.1:abc", "127.0.0.1:8080 "} {
		c := baseConfig()
		c.Listen = l
		resolveErr(t, c, "setting listen", "")
		c = baseConfig()
		c.Listen, c.Domain = l, "pay.example.com"
		resolveErr(t, c, "setting listen", "")
	}
	for l, domain := range map[string]string{"127.0.0.1:0": "localhost:0", ":65535": "localhost:65535",
		"10.0.0.5:8080": "10.0.0.5:8080", "127.0.0.1:http": "localhost:80"} {
		c := baseConfig()
		c.Listen = l
		if err := c.Resolve(); err != nil || c.Domain != domain {
			t.Errorf("%s: domain %q, %v; want %s", l, c.Domain, err, domain)
		}
	}
}

// base-url is given to counterparties, every URL of ours built on it: a
// port no connection can be made to (url.Parse takes any digits) is
// refused at start, as the domain's is.
func TestBaseURLMustHaveAValidPort(t *testing.T) {
	t.Parallel()
	for _, b := range []string{"https://pay.example.com:99999", "https://pay.example.com:0", "http://localhost:65536/uma"} {
		c := baseConfig()
		c.Domain, c.BaseURL = "pay.example.com", b
		resolveErr(t, c, "setting base-url", "")
	}
}
