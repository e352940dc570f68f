package main

// Reading the config file: ${VAR} expansion, unknown keys on the line as
// written, one document.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

var errConfig = errors.New("config")

// parseConfig reads a YAML config, expanding ${VAR} in every value with
// getenv. A missing variable, an unknown key or a second document is an
// error naming the line of the file as written.
func parseConfig(data []byte, getenv func(string) string) (*fileConfig, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: the file is empty", errConfig)
		}
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	var second yaml.Node
	if err := dec.Decode(&second); !errors.Is(err, io.EOF) {
		line := second.Line
		if err != nil {
			return nil, fmt.Errorf("%w: after the first document: %w", errConfig, err)
		}
		return nil, fmt.Errorf("%w: line %d: a second YAML document; hookguard reads one", errConfig, line)
	}
	if err := expandEnv(&root, getenv); err != nil {
		return nil, err
	}
	// The tree is decoded as read, never re-encoded, so every error names
	// the user's own line.
	var cfg fileConfig
	if err := knownKeys(&root, reflect.TypeFor[fileConfig]()); err != nil {
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	if err := root.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	return &cfg, nil
}

// errUnknownKey is wrapped by the error for a key the config does not have.
var errUnknownKey = errors.New("unknown key")

// knownKeys fails on the first mapping key in n that names no field of t
// (by yaml tag), recursing through structs, pointers, slices and maps. A
// type with its own UnmarshalYAML is a leaf.
func knownKeys(n *yaml.Node, t reflect.Type) error {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			if err := knownKeys(c, t); err != nil {
				return err
			}
		}
		return nil
	}
	if reflect.PointerTo(t).Implements(reflect.TypeFor[yaml.Unmarshaler]()) {
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return knownKeys(n, t.Elem())
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return nil // Decode reports the type mismatch on this line
		}
		for _, c := range n.Content {
			if err := knownKeys(c, t.Elem()); err != nil {
				return err
			}
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return nil
		}
		for i := 1; i < len(n.Content); i += 2 {
			if err := knownKeys(n.Content[i], t.Elem()); err != nil {
				return err
			}
		}
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return nil
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" { // a merge: its keys belong to t too
				if err := knownKeys(v, t); err != nil {
					return err
				}
				continue
			}
			f, ok := fieldByTag(t, k.Value)
			if !ok {
				return fmt.Errorf("line %d: %w %q", k.Line, errUnknownKey, k.Value)
			}
			if err := knownKeys(v, f.Type); err != nil {
				return err
			}
		}
	}
	return nil
}

func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// expandEnv replaces ${NAME} in scalar values. A bare $ is kept as is,
// so secrets may contain it.
func expandEnv(n *yaml.Node, getenv func(string) string) error {
	if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "${") {
		v, err := expandString(n.Value, getenv)
		if err != nil {
			return fmt.Errorf("%w: line %d: %w", errConfig, n.Line, err)
		}
		n.Value = v
	}
	for _, c := range n.Content {
		if err := expandEnv(c, getenv); err != nil {
			return err
		}
	}
	return nil
}

var errMissingVar = errors.New("environment variable is not set")

func expandString(s string, getenv func(string) string) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("unclosed ${ in value")
		}
		name := s[i+2 : i+j]
		val := getenv(name)
		if name == "" || val == "" {
			return "", fmt.Errorf("%w: %q (or it is empty)", errMissingVar, name)
		}
		b.WriteString(s[:i])
		b.WriteString(val)
		s = s[i+j+1:]
	}
}
