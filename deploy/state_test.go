package deploy

import "testing"

func TestDriverMainClass(t *testing.T) {
	for _, c := range []struct {
		cmd  Command
		want string
	}{
		{Command{MainClass: DriverWrapperClass, Arguments: []string{"{{WORKER_URL}}", "{{USER_JAR}}", "com.example.Main", "a"}}, "com.example.Main"},
		{Command{MainClass: DriverWrapperClass, Arguments: []string{"{{WORKER_URL}}"}}, DriverWrapperClass},
		{Command{MainClass: "/opt/jobs/sort", Arguments: []string{"-n", "10", "-out", "x"}}, "/opt/jobs/sort"},
		{Command{MainClass: "{{USER_JAR}}"}, "{{USER_JAR}}"},
	} {
		if got := DriverMainClass(c.cmd); got != c.want {
			t.Errorf("DriverMainClass(%s %q) = %q, want %q", c.cmd.MainClass, c.cmd.Arguments, got, c.want)
		}
	}
}
