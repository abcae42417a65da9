// Package web embeds the live page served at /.
package web

import "net/http"

// Handler serves the page and its assets.
func Handler() http.Handler { panic("web: TODO") }
