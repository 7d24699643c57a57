package git

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rbflow/rbflow/engine/testkit"
)

func TestSecretLike(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		path, pattern string
	}{
		{".env", ".env"},
		{"backend/.env", ".env"},
		{".env.local", ".env.*"},
		{"a.pem", "*.pem"},
		{"deep/er/Server.PEM", "*.pem"},
		{"tls.key", "*.key"},
		{"-lead.key", "*.key"},
		{"sub/dir/id_rsa", "id_rsa*"},
		{"id_rsa.pub", "id_rsa*"},
		{"ID_ED25519", "id_ed25519*"},
		{"store.p12", "*.p12"},
		{"odd name.pfx", "*.pfx"},
		{"credentials.json", "credentials*"},
		{"é/credentials", "credentials*"},
		{"nested.key/", "*.key"},
		{"env", ""},
		{"my.env", ""},
		{".envrc", ""},
		{"keys/notes.txt", ""},
		{".env/notes.txt", ""},
		{"key.txt", ""},
		{"a.pem.txt", ""},
		{"rsa_id", ""},
	} {
		pattern, ok := SecretLike(tt.path)
		if pattern != tt.pattern || ok != (tt.pattern != "") {
			t.Errorf("SecretLike(%q) = %q, %v, want %q, %v", tt.path, pattern, ok, tt.pattern, tt.pattern != "")
		}
	}
}

// AddAll stages what git add -A would, except untracked files named like
// secrets, whatever their names hold, and never hashes those.
func TestAddAllLeavesSecretLikeFilesOut(t *testing.T) {
	t.Parallel()
	r, dir := newRepo(t)
	ctx := context.Background()
	writeFile(t, dir, "tracked.key", "tracked key v1\n", 0o644)
	writeFile(t, dir, "gone.txt", "to be deleted\n", 0o644)
	writeFile(t, dir, ".gitignore", "ignored.txt\n", 0o644)
	testkit.Git(t, dir, "add", "-A")
	testkit.Git(t, dir, "commit", "-q", "-m", "init")

	writeFile(t, dir, "tracked.key", "tracked key v2\n", 0o644) // tracked: staged as usual
	if err := os.Remove(filepath.Join(dir, "gone.txt")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "ignored.txt", "ignored\n", 0o644)
	secrets := map[string]string{
		".env":               "SECRET-ENV\n",
		"sub/dir/id_rsa":     "SECRET-RSA\n",
		"-lead.pem":          "SECRET-DASH\n",
		"new\nline.key":      "SECRET-NEWLINE\n",
		"é dir/ID_ED25519":   "SECRET-UNICODE\n",
		"*.pem":              "SECRET-GLOB\n",
		"credentials.json":   "SECRET-CREDS\n",
		"space name.p12":     "SECRET-SPACE\n",
		"config/.env.local":  "SECRET-LOCAL\n",
		"certs/bundle.pfx":   "SECRET-PFX\n",
		"keys/id_rsa.pub":    "SECRET-PUB\n",
		"x/credentials":      "SECRET-BARE\n",
		"Server.PEM":         "SECRET-UPPER\n",
		"deep/a/b/c/tls.key": "SECRET-DEEP\n",
	}
	ordinary := []string{"notes.txt", "-dash.txt", "new\nline.txt", "é dir/ordinary.md", "star*.pem.txt", "keys/README"}
	for p, text := range secrets {
		writeFile(t, dir, p, text, 0o600)
	}
	for _, p := range ordinary {
		writeFile(t, dir, p, "ordinary\n", 0o644)
	}

	left, err := r.AddAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for p := range secrets {
		want = append(want, p)
	}
	slices.Sort(want)
	if !slices.Equal(left, want) {
		t.Errorf("AddAll left out %q, want %q", left, want)
	}
	staged := strings.Split(strings.TrimSuffix(testkit.Git(t, dir, "diff", "--cached", "--name-status", "-z"), "\x00"), "\x00")
	var got []string
	for i := 0; i+1 < len(staged); i += 2 {
		got = append(got, staged[i]+" "+staged[i+1])
	}
	wantStaged := []string{"D gone.txt", "M tracked.key"}
	for _, p := range ordinary {
		wantStaged = append(wantStaged, "A "+p)
	}
	slices.Sort(got)
	slices.Sort(wantStaged)
	if !slices.Equal(got, wantStaged) {
		t.Errorf("staged %q, want %q", got, wantStaged)
	}
	// Not even hashed: no object in the repository holds a secret.
	objects := testkit.Git(t, dir, "cat-file", "--batch-all-objects", "--batch")
	for p, text := range secrets {
		if strings.Contains(objects, strings.TrimSpace(text)) {
			t.Errorf("the object store holds the content of %q", p)
		}
		if b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p))); err != nil || string(b) != text {
			t.Errorf("%q after AddAll: %q, %v; want it untouched", p, b, err)
		}
	}
	if left, err := r.UntrackedSecrets(ctx); err != nil || !slices.Equal(left, want) {
		t.Errorf("UntrackedSecrets after AddAll = %q, %v; want %q", left, err, want)
	}
}
