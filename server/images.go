package server

import "github.com/labstack/echo/v4"

// registerImageRoutes mounts POST /simulate/image and POST /simulate/animation on g (which
// already carries auth, rate limiting and the body limit).
func registerImageRoutes(g *echo.Group, run Runner) { panic("server: TODO images") }
