package worker

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDriverProgramRunsTheCopy(t *testing.T) {
	dir := t.TempDir()
	jar := filepath.Join(dir, "myapp")
	if err := os.WriteFile(jar, []byte("#!/bin/sh\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		main, jarURL, jar, want string
	}{
		{"/opt/apps/myapp", "file:///opt/apps/myapp", jar, jar},                 // ember submit's file:// program
		{"/opt/apps/myapp", "/opt/apps/./myapp", jar, jar},                      // a plain path, cleaned
		{"{{USER_JAR}}", "https://h/myapp", jar, jar},                           // asks for the copy
		{"/opt/apps/other", "file:///opt/apps/myapp", jar, "/opt/apps/other"},   // another program
		{"/opt/apps/myapp", "https://h/opt/apps/myapp", jar, "/opt/apps/myapp"}, // not a local URL: as given
		{"/opt/apps/myapp", "", "", "/opt/apps/myapp"},                          // no jar
		{"org.apache.spark.deploy.worker.DriverWrapper", "file:///opt/app.jar", jar, "org.apache.spark.deploy.worker.DriverWrapper"},
	} {
		got, err := driverProgram(c.main, c.jarURL, c.jar)
		if err != nil || got != c.want {
			t.Errorf("driverProgram(%q, %q) = %q, %v; want %q", c.main, c.jarURL, got, err, c.want)
		}
	}
	if st, err := os.Stat(jar); err != nil || st.Mode().Perm()&0o100 == 0 {
		t.Fatalf("the copy is not executable: %v %v", st.Mode(), err)
	}
	if _, err := driverProgram("{{USER_JAR}}", "", ""); err == nil {
		t.Fatal("{{USER_JAR}} without a jar: no error")
	}
}
