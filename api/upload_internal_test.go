package api

import (
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/vaspd/vaspd"
)

// uploadError answers the body's read failing as every body's is
// (bodyReadError: 408 when it did not arrive in time, without the
// network's words), and what the multipart reader could not parse as a
// malformed upload, an unexpected EOF of a part included.
func TestUploadError(t *testing.T) {
	timeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	for _, c := range []struct {
		err     error
		status  int
		message string
	}{
		{timeout, 408, "did not arrive in time"},
		{&net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}, 400, "ended before it was whole"},
		{io.ErrUnexpectedEOF, 400, "malformed upload"},
		{errors.New("multipart: NextPart: bufio: buffer full"), 400, "malformed upload"},
	} {
		e := vaspd.AsError(uploadError(c.err))
		if e.Status != c.status || !strings.Contains(e.Message, c.message) {
			t.Errorf("%v: %d %q, want %d saying %q", c.err, e.Status, e.Message, c.status, c.message)
		}
	}
}
