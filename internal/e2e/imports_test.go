package e2e

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"testing"
)

// TestBulkUploadAnnounced: a CSV uploaded through the platform API is
// imported by the daemon's background job, the platform gets one
// BULK_UPLOAD webhook with the job, and the users exist.
func TestBulkUploadAnnounced(t *testing.T) {
	each(t, func(t *testing.T, db dbKind) {
		a, _ := twoVASPs(t, db, nil)
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fw, _ := mw.CreateFormFile("file", "users.csv")
		_, _ = fw.Write([]byte("umaAddress,platformUserId,userType,fullName,preferredCurrencies\n" +
			"$carol,c1,INDIVIDUAL,Carol,USD\n$dave,d1,INDIVIDUAL,Dave,EUR\n$carol,c2,INDIVIDUAL,Carol Again,USD\n"))
		_ = mw.Close()
		req, _ := http.NewRequest("POST", a.base+"/users/bulk/csv", &body)
		req.SetBasicAuth(a.clientID, a.secret)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var accepted struct{ JobID, Status string }
		_ = json.NewDecoder(resp.Body).Decode(&accepted)
		resp.Body.Close()
		if resp.StatusCode != 202 || accepted.JobID == "" {
			t.Fatalf("upload: %d %+v", resp.StatusCode, accepted)
		}
		var job map[string]any
		eventually(t, "the BULK_UPLOAD webhook", func() bool {
			a.hooks.mu.Lock()
			defer a.hooks.mu.Unlock()
			for _, m := range a.hooks.got {
				if m["type"] == "BULK_UPLOAD" {
					job, _ = m["bulkUserImportJob"].(map[string]any)
					return true
				}
			}
			return false
		})
		prog, _ := job["progress"].(map[string]any)
		if job["jobId"] != accepted.JobID || job["status"] != "COMPLETED" || prog["successful"] != float64(2) || prog["failed"] != float64(1) {
			t.Fatalf("BULK_UPLOAD job %v", job)
		}
		var got map[string]any
		a.mustCall("GET", "/users/bulk/jobs/"+accepted.JobID, nil, &got)
		if got["status"] != "COMPLETED" {
			t.Fatalf("job %v", got)
		}
		var list struct{ Data []map[string]any }
		a.mustCall("GET", "/users?limit=10", nil, &list)
		n := 0
		for _, u := range list.Data {
			if u["platformUserId"] == "c1" || u["platformUserId"] == "d1" {
				n++
			}
		}
		if n != 2 {
			t.Fatalf("imported users listed: %d of 2 (%v)", n, list.Data)
		}
	})
}
