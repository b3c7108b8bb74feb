package daemon

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// refused waits for a daemon that must stop by itself, quickly, and
// returns its error.
func refused(t *testing.T, errc chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("the second server ran and stopped without an error")
		}
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("a second server on the same SQLite database is still running after 10 s")
	}
	return nil
}

// TestSecondServerOnSQLiteRefused: two servers on one SQLite database are
// not a supported deployment (writers are serialised in process only), so
// the second stops at once and says who holds the database.
func TestSecondServerOnSQLiteRefused(t *testing.T) {
	if !haveFlock {
		t.Skip("no flock on this platform: the second server is not refused")
	}
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	first := start(t, Config{DataDir: dir})
	_, _, errc := startLogged(t, Config{DataDir: dir})
	err := refused(t, errc)
	for _, want := range []string{"setting data-dir", dir, fmt.Sprintf("(pid %d)", os.Getpid()), "PostgreSQL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if st := get(t, first.url+"/readyz", "", ""); st != 200 {
		t.Errorf("the first server after the refusal: /readyz %d", st)
	}

	// The database named by database-url is what is locked, whatever the
	// data directories (the webhook crash test runs vaspd that way).
	db := "sqlite:" + filepath.Join(t.TempDir(), "shared.db")
	start(t, Config{DataDir: t.TempDir(), DatabaseURL: db})
	_, _, errc = startLogged(t, Config{DataDir: t.TempDir(), DatabaseURL: db})
	if err := refused(t, errc); !strings.Contains(err.Error(), "setting database-url") {
		t.Errorf("error %q does not name database-url", err)
	}
}

// TestSQLiteLockDiesWithItsProcess: the lock is the kernel's, so a server
// killed with SIGKILL leaves nothing behind that stops the next one.
func TestSQLiteLockDiesWithItsProcess(t *testing.T) {
	if !haveFlock {
		t.Skip("no flock on this platform")
	}
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	holder := exec.Command(os.Args[0], "-test.run=^TestLockHolderProcess$")
	holder.Env = append(os.Environ(), "VASPD_TEST_LOCK_HOLDER="+filepath.Join(dir, "vaspd.db"))
	out, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer holder.Process.Kill()
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "locked\n" {
		t.Fatalf("lock holder: %q, %v", line, err)
	}

	_, _, errc := startLogged(t, Config{DataDir: dir})
	if err := refused(t, errc); !strings.Contains(err.Error(), "(pid "+strconv.Itoa(holder.Process.Pid)+")") {
		t.Fatalf("error %q does not name the holder's pid %d", err, holder.Process.Pid)
	}
	if err := holder.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_ = holder.Wait()
	start(t, Config{DataDir: dir})
}

// TestLockHolderProcess is not a test: TestSQLiteLockDiesWithItsProcess
// runs the test binary with it to hold the lock in another process.
func TestLockHolderProcess(t *testing.T) {
	path := os.Getenv("VASPD_TEST_LOCK_HOLDER")
	if path == "" {
		t.Skip("helper process for TestSQLiteLockDiesWithItsProcess")
	}
	if _, err := lockSQLite("data-dir", path); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println("locked")
	time.Sleep(time.Minute) // until killed
	os.Exit(1)
}

// TestSQLiteLockFollowsSymlinks: a database named through a symbolic link
// to its file is the same database, so its lock is the file's, not one
// beside the link: a second server, or `vaspd keys forget --yes`, given
// the link while a server runs on the file is refused.
func TestSQLiteLockFollowsSymlinks(t *testing.T) {
	if !haveFlock {
		t.Skip("no flock on this platform: nothing is refused")
	}
	db := filepath.Join(t.TempDir(), "vaspd.db")
	if err := os.WriteFile(db, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "link.db")
	if err := os.Symlink(db, link); err != nil {
		t.Skip("cannot make a symbolic link:", err)
	}
	for _, order := range [][2]string{{db, link}, {link, db}} {
		release, err := lockSQLite("database-url", order[0])
		if err != nil {
			t.Fatal(err)
		}
		second, err := lockSQLite("database-url", order[1])
		var held *lockHeldError
		if !errors.As(err, &held) {
			if err == nil {
				second()
			}
			t.Errorf("locked %s, then %s: err = %v, want the lock held", order[0], order[1], err)
		}
		release()
	}
}
