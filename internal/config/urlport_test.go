package config

import (
	"strings"
	"testing"
)

// url.Parse takes any digits for a port: a URL setting with one no
// connection can be made to (lnd-rest-url https://127.0.0.1:99999) passed
// the start-up check and failed at every call. Refused, naming the
// setting.
func TestParseURLRefusesPortOutOfRange(t *testing.T) {
	for _, v := range []string{"https://127.0.0.1:99999", "https://lnd.example:0", "http://peer.example:65536/x"} {
		_, err := ParseURL("lnd-rest-url", v, "https", "http")
		if err == nil || !strings.Contains(err.Error(), "setting lnd-rest-url") || !strings.Contains(err.Error(), "port") {
			t.Errorf("%s: err = %v, want one naming the setting and the port", v, err)
		}
	}
	for _, v := range []string{"https://127.0.0.1:8080", "https://lnd.example:65535/", "http://peer.example"} {
		if _, err := ParseURL("lnd-rest-url", v, "https", "http"); err != nil {
			t.Errorf("%s: %v", v, err)
		}
	}
}
