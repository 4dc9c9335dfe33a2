package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// screenshot captures the page as PNG, saves it as name.png in
// $SESSRING_SCREENSHOTS (or a temporary directory, named in the log) and
// decodes it.
func (b *browser) screenshot(t *testing.T, name string) image.Image {
	t.Helper()
	var shot struct{ Data string }
	if err := b.call(b.session, "Page.captureScreenshot", map[string]any{"format": "png"}, &shot); err != nil {
		t.Fatalf("Page.captureScreenshot: %v", err)
	}
	raw, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := os.Getenv("SESSRING_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatalf("save screenshot: %v", err)
	}
	t.Logf("screenshot %s", path)
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("decode screenshot %s: %v", name, err)
	}
	return img
}

// rectOf returns the page rectangle of the element matched by selector, in
// CSS pixels (the screenshots use a device scale factor of 1).
func (b *browser) rectOf(t *testing.T, selector string) image.Rectangle {
	t.Helper()
	var r struct{ X, Y, W, H float64 }
	expr := fmt.Sprintf(`(() => { const b = document.querySelector(%q).getBoundingClientRect(); return {x: b.x, y: b.y, w: b.width, h: b.height} })()`, selector)
	if err := b.eval(expr, &r); err != nil {
		t.Fatalf("rect of %s: %v", selector, err)
	}
	return image.Rect(int(r.X), int(r.Y), int(r.X+r.W), int(r.Y+r.H))
}

// pixels summarises a region of a screenshot: how many pixels are close to
// each colour asked for, and the standard deviation of the luminance (a
// blank or single-colour region has almost none).
func pixels(img image.Image, region image.Rectangle, want map[string]color.RGBA) (counts map[string]int, lumaSD float64) {
	region = region.Intersect(img.Bounds())
	counts = map[string]int{}
	var sum, sumSq, n float64
	for y := region.Min.Y; y < region.Max.Y; y++ {
		for x := region.Min.X; x < region.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			r8, g8, b8 := int(r>>8), int(g>>8), int(b>>8)
			l := 0.299*float64(r8) + 0.587*float64(g8) + 0.114*float64(b8)
			sum, sumSq, n = sum+l, sumSq+l*l, n+1
			for name, c := range want {
				if abs(r8-int(c.R)) <= 12 && abs(g8-int(c.G)) <= 12 && abs(b8-int(c.B)) <= 12 {
					counts[name]++
				}
			}
		}
	}
	if n == 0 {
		return counts, 0
	}
	mean := sum / n
	return counts, math.Sqrt(max(sumSq/n-mean*mean, 0))
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// The picture's colours (see examples/internal/demo/drawing.go).
var (
	green  = color.RGBA{0x2e, 0x7d, 0x32, 255} // alive
	red    = color.RGBA{0xc6, 0x28, 0x28, 255} // failed
	blue   = color.RGBA{0x15, 0x65, 0xc0, 255} // owner copies
	purple = color.RGBA{0x7b, 0x1f, 0xa2, 255} // replica copies
	gold   = color.RGBA{0xff, 0xb3, 0x00, 255} // the viewer's session
)

// checkPicture fails t unless the region of selector in img shows each
// colour of want on at least minPixels pixels and is not flat.
func checkPicture(t *testing.T, img image.Image, b *browser, selector string, want map[string]color.RGBA, minPixels int) {
	t.Helper()
	region := b.rectOf(t, selector)
	if region.Dx() < 300 || region.Dy() < 100 {
		t.Errorf("%s is %v, want a picture at least 300x100", selector, region)
		return
	}
	counts, sd := pixels(img, region, want)
	t.Logf("%s %v: luminance sd %.1f, colour pixels %v", selector, region, sd, counts)
	if sd < 20 {
		t.Errorf("%s: luminance standard deviation %.1f, want at least 20 (a drawing, not a blank)", selector, sd)
	}
	for name := range want {
		if counts[name] < minPixels {
			t.Errorf("%s: %d %s pixels, want at least %d", selector, counts[name], name, minPixels)
		}
	}
}
