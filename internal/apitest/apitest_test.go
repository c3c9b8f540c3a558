package apitest

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ember-rpc/ember/internal/testutil"
)

// TestExternalModule builds and runs testdata/extmod (see the package
// documentation) and checks every line it prints.
func TestExternalModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a separate module (-short)")
	}
	root, err := testutil.ProjectRoot()
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(root, "internal", "apitest", "testdata", "extmod")
	dir := t.TempDir()
	for _, name := range []string{"go.mod", "main.go"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// go.sum: the module's own and the library's, so that a dependency the
	// library gained since extmod/go.sum was written needs no lookup.
	var sum []byte
	for _, p := range []string{filepath.Join(src, "go.sum"), filepath.Join(root, "go.sum")} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		sum = append(sum, b...)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	env := append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOPROXY=off", "GOTOOLCHAIN=local")
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("mod", "edit", "-replace", "github.com/ember-rpc/ember="+root)
	run("build", "-o", filepath.Join(dir, "extmod"), ".")

	cmd := exec.CommandContext(ctx, filepath.Join(dir, "extmod"))
	out, err := cmd.CombinedOutput()
	t.Logf("extmod:\n%s", out)
	if err != nil {
		t.Fatalf("extmod failed: %v", err)
	}
	var want []string
	for _, mode := range []string{"EPOLL", "NIO"} {
		for _, c := range []string{"zero-conf echo", "authenticated, encrypted echo from Spark keys",
			"TLS from crypto/tls", "deadline is context.DeadlineExceeded", "actor ask with auth", "actor ask over TLS", "shuffle fetch"} {
			want = append(want, "ok "+mode+" "+c)
		}
	}
	want = append(want, "ok registry clash is an error")
	got := strings.Split(strings.TrimSpace(string(out)), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("extmod printed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestNoInternalTypesInPublicAPI: no exported declaration of a public
// package names a type of an internal package.
func TestNoInternalTypesInPublicAPI(t *testing.T) {
	root, err := testutil.ProjectRoot()
	if err != nil {
		t.Fatal(err)
	}
	var problems []string
	pkgs := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		base := d.Name()
		if rel != "." && (strings.HasPrefix(base, ".") || strings.HasPrefix(base, "_") || base == "testdata" ||
			base == "internal" || base == "bench") {
			return filepath.SkipDir
		}
		found, ps := checkDir(t, path, rel)
		if found {
			pkgs++
		}
		problems = append(problems, ps...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if pkgs < 10 {
		t.Fatalf("checked only %d public packages: the walk is broken", pkgs)
	}
	sort.Strings(problems)
	for _, p := range problems {
		t.Error(p)
	}
	t.Logf("%d public packages checked", pkgs)
}

// checkDir parses the non-test Go files of one directory and reports the
// exported declarations that name an internal package's type.
func checkDir(t *testing.T, dir, rel string) (bool, []string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var problems []string
	found := false
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		if f.Name.Name == "main" {
			return false, nil
		}
		found = true
		internal := map[string]string{} // local import name -> path
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if !strings.Contains(p, "/internal/") && !strings.HasSuffix(p, "/internal") {
				continue
			}
			local := p[strings.LastIndex(p, "/")+1:]
			if imp.Name != nil {
				local = imp.Name.Name
			}
			internal[local] = p
		}
		if len(internal) == 0 {
			continue
		}
		report := func(what string, n ast.Node) {
			ast.Inspect(n, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok {
					if id, ok := sel.X.(*ast.Ident); ok {
						if p, ok := internal[id.Name]; ok {
							problems = append(problems, rel+": "+what+" names "+p+"."+sel.Sel.Name+" ("+fset.Position(sel.Pos()).String()+")")
						}
					}
				}
				return true
			})
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() || (d.Recv != nil && !exportedRecv(d.Recv)) {
					continue
				}
				report("func "+d.Name.Name, d.Type)
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						if s.Name.IsExported() {
							report("type "+s.Name.Name, exportedShape(s.Type))
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() && s.Type != nil {
								report("var/const "+n.Name, s.Type)
							}
						}
					}
				}
			}
		}
	}
	return found, problems
}

// exportedRecv reports whether a method's receiver type is exported.
func exportedRecv(fl *ast.FieldList) bool {
	if len(fl.List) == 0 {
		return false
	}
	t := fl.List[0].Type
	for {
		switch x := t.(type) {
		case *ast.StarExpr:
			t = x.X
		case *ast.IndexExpr:
			t = x.X
		case *ast.IndexListExpr:
			t = x.X
		case *ast.Ident:
			return x.IsExported()
		default:
			return false
		}
	}
}

// exportedShape keeps the parts of a type another package sees: a
// struct's exported (and embedded) fields, an interface's methods, or the
// whole type otherwise.
func exportedShape(t ast.Expr) ast.Node {
	st, ok := t.(*ast.StructType)
	if !ok {
		return t
	}
	out := &ast.FieldList{}
	for _, f := range st.Fields.List {
		if len(f.Names) == 0 {
			out.List = append(out.List, f)
			continue
		}
		for _, n := range f.Names {
			if n.IsExported() {
				out.List = append(out.List, f)
				break
			}
		}
	}
	return out
}
