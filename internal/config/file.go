package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxFileSize bounds the config file.
const maxFileSize = 1 << 20

// readFile reads a flat YAML mapping of setting names to scalar values. A
// null value ("key: ~", "key: null", "key:") is a nil entry: the key is
// there, the value is not (never the text "null").
func readFile(path string) (map[string]*string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", path, errors.Unwrap(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		// The cause alone: a read's *PathError names the path again
		// (a directory: "read D: is a directory").
		if u := errors.Unwrap(err); u != nil {
			err = u
		}
		return nil, fmt.Errorf("cannot read %s: %v", path, err)
	}
	if len(b) > maxFileSize {
		// Never parse a prefix: a cut can end a value half-way.
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxFileSize)
	}
	// One document, a mapping: a decoder, not yaml.Unmarshal, which reads
	// the first document and silently drops any after it.
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return map[string]*string{}, nil // an empty file
		}
		return nil, fmt.Errorf("%s is not valid YAML: %v", path, yamlProblem(err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s holds more than one YAML document (---): put every setting in one", path)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return map[string]*string{}, nil // a document of only comments or "~"
	}
	if root.Kind != yaml.MappingNode {
		// Never yaml's type error: it quotes the start of the value, and a
		// file given by mistake may be a key.
		return nil, fmt.Errorf("%s: want a mapping of setting names to values (key: value lines)", path)
	}
	// In the file's order, so that of several mistakes the first is
	// named, the same one every time.
	out := map[string]*string{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, n := root.Content[i], root.Content[i+1]
		if key.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("%s: line %d: a key must be a setting name", path, key.Line)
		}
		k := key.Value
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("%s: line %d: %s is given twice", path, key.Line, k)
		}
		switch n.Kind {
		case yaml.ScalarNode:
			if n.ShortTag() == "!!null" {
				out[k] = nil
				continue
			}
			v := n.Value
			out[k] = &v
		case yaml.SequenceNode:
			var items []string
			for _, it := range n.Content {
				if it.Kind != yaml.ScalarNode || it.ShortTag() == "!!null" {
					return nil, fmt.Errorf("%s: %s: list items must be plain values", path, k)
				}
				items = append(items, it.Value)
			}
			v := strings.Join(items, ",")
			out[k] = &v
		default:
			return nil, fmt.Errorf("%s: %s: want a plain value or a list", path, k)
		}
	}
	return out, nil
}

// yamlProblem is err, yaml's error for a file that does not parse, unless
// it quotes the file: yaml names the anchor an alias refers to, and an
// unquoted value that starts with "*" is an alias, so a secret written so
// (database-url: *s3cret…) would be printed. Its other errors give a line
// number and the problem, never the text.
func yamlProblem(err error) string {
	if msg := err.Error(); !strings.Contains(msg, "anchor '") {
		return msg
	}
	return "a value starting with * is an alias to an anchor that is not there (the value is not echoed: it may be a secret); quote a value that starts with * or &"
}
