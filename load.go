package main

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"

	"mfn/config"
)

// loadConfig builds the effective configuration: per-environment defaults, then the
// YAML file (path, else MFN_CONFIG), then MFN_* environment variables (the MFN_<KEY>
// form first, then the reference's names), then validation. Every error names its key.
// getenv is os.LookupEnv outside tests.
func loadConfig(path string, getenv func(string) (string, bool)) (config.Config, error) {
	if path == "" {
		path, _ = getenv("MFN_CONFIG")
	}
	v := viper.New()
	if path != "" {
		v.SetConfigFile(path)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			return config.Config{}, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	env := v.GetString("env")
	if e, ok := getenv("MFN_ENV"); ok && e != "" {
		env = e
	}
	if env == "" {
		env = config.EnvDev
	}
	env = strings.ToLower(strings.TrimSpace(env))
	def, err := config.Default(env)
	if err != nil {
		return config.Config{}, err
	}

	// Every key gets a default and an explicit env binding: Unmarshal only sees keys
	// viper already knows (PITFALLS §7.1). Env values are read with getenv, not viper's
	// os lookup, so tests need not touch the process environment.
	keys := config.Keys(def)
	for k, val := range keys {
		if k == "pipelines" {
			continue
		}
		v.SetDefault(k, val)
		names := append([]string{config.EnvName(k)}, config.LegacyEnv[k]...)
		for _, n := range names {
			// Trimmed: the reference's int() accepted " 5 ", and a stray space in a
			// Secret or manifest must not turn "true" into a boolean error.
			if s, ok := getenv(n); ok && strings.TrimSpace(s) != "" {
				v.Set(k, strings.TrimSpace(s))
				break
			}
		}
	}
	v.Set("env", env)
	if err := applyCombinedEnv(v, getenv); err != nil {
		return config.Config{}, err
	}

	// Defaults before decoding: every other key has its default bound above, and the
	// pipelines (a list, which viper cannot default) start from their DefaultConfig.
	var cfg config.Config
	cfg.SeedPipelines(v.Get("pipelines"))
	if err := v.UnmarshalExact(&cfg, viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(
		boolHook, listHook, mapstructure.StringToTimeDurationHookFunc(),
	))); err != nil {
		return config.Config{}, fmt.Errorf("config: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return config.Config{}, err
	}
	return cfg, nil
}

// applyCombinedEnv handles the reference's variables that feed one key together.
func applyCombinedEnv(v *viper.Viper, getenv func(string) (string, bool)) error {
	var keys []string
	for _, n := range []string{"MFN_API_KEY", "MFN_API_KEYS", "MFN_GRPC_API_KEY"} {
		if s, ok := getenv(n); ok {
			keys = append(keys, config.SplitList(s)...)
		}
	}
	if len(keys) > 0 {
		// An empty MFN_SERVER_AUTH_KEYS is unset (as everywhere): it must not hide these.
		if s, _ := getenv("MFN_SERVER_AUTH_KEYS"); strings.TrimSpace(s) == "" {
			v.Set("server.auth.keys", keys)
		}
	}
	// MFN_GRPC_AUTH_REQUIRED (the reference's separate gRPC switch) turns on the one
	// shared authenticator; it cannot turn it off.
	if s, ok := getenv("MFN_GRPC_AUTH_REQUIRED"); ok && s != "" {
		b, err := config.ParseBool(s)
		if err != nil {
			return fmt.Errorf("server.auth.required (MFN_GRPC_AUTH_REQUIRED): %w", err)
		}
		if b {
			v.Set("server.auth.required", true)
		}
	}
	// MFN_GRPC_PORT moves gRPC to its own port, as the reference served it.
	if s, ok := getenv("MFN_GRPC_PORT"); ok && s != "" {
		if a, _ := getenv("MFN_SERVER_GRPC_ADDR"); strings.TrimSpace(a) == "" {
			v.Set("server.grpc_addr", "0.0.0.0:"+strings.TrimSpace(s))
		}
	}
	return nil
}

// boolHook parses booleans with the one parser (true/1/yes, false/0/no).
func boolHook(from, to reflect.Type, data any) (any, error) {
	if to.Kind() != reflect.Bool || from.Kind() != reflect.String {
		return data, nil
	}
	return config.ParseBool(data.(string))
}

// listHook splits comma-separated strings into lists, trimming entries and dropping
// empties (MFN_API_KEYS, MFN_CORS_ORIGINS).
func listHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String || to.Kind() != reflect.Slice || to.Elem().Kind() != reflect.String {
		return data, nil
	}
	return config.SplitList(data.(string)), nil
}
