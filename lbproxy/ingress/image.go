package ingress

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
)

// ImageRepo is the repository of the ingress container's image; its tag
// is a digest of the xo binary, so a new binary makes a new image.
const ImageRepo = "xo-ingress"

// ImageEngine is what the ingress container needs of the engine's
// images.
type ImageEngine interface {
	ImageInspect(ctx context.Context, ref string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
	ImageImport(ctx context.Context, source image.ImportSource, ref string, options image.ImportOptions) (io.ReadCloser, error)
	ImageList(ctx context.Context, options image.ListOptions) ([]image.Summary, error)
	ImageRemove(ctx context.Context, ref string, options image.RemoveOptions) ([]image.DeleteResponse, error)
}

// selfImage makes the ingress image from a binary: one file, /xo, run as
// `/xo pause`. It works offline: the engine imports it from a tar
// stream, no registry involved.
type selfImage struct {
	eng    ImageEngine
	binary string // path of the xo binary (os.Executable)

	once sync.Once
	ref  string
	err  error
}

// Ref returns the image reference, importing the image if the engine
// does not have it yet.
func (s *selfImage) Ref(ctx context.Context) (string, error) {
	s.once.Do(func() { s.ref, s.err = s.digestRef() })
	if s.err != nil {
		return "", s.err
	}
	if _, err := s.eng.ImageInspect(ctx, s.ref); err == nil {
		return s.ref, nil
	} else if !cerrdefs.IsNotFound(err) {
		return "", fmt.Errorf("ingress: inspect image %s: %w", s.ref, err)
	}
	if err := s.importImage(ctx); err != nil {
		return "", err
	}
	s.pruneOld(ctx)
	return s.ref, nil
}

func (s *selfImage) digestRef() (string, error) {
	f, err := os.Open(s.binary)
	if err != nil {
		return "", fmt.Errorf("ingress: read the xo binary for the ingress image: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("ingress: read the xo binary %s: %w", s.binary, err)
	}
	return ImageRepo + ":" + hex.EncodeToString(h.Sum(nil))[:16], nil
}

// importImage streams a tar holding the binary as /xo into the engine.
func (s *selfImage) importImage(ctx context.Context) error {
	f, err := os.Open(s.binary)
	if err != nil {
		return fmt.Errorf("ingress: open %s: %w", s.binary, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("ingress: stat %s: %w", s.binary, err)
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { // ends when the tar is written or the reader is closed
		tw := tar.NewWriter(pw)
		err := tw.WriteHeader(&tar.Header{Name: "xo", Mode: 0o755, Size: st.Size(), Typeflag: tar.TypeReg, ModTime: st.ModTime()})
		if err == nil {
			_, err = io.Copy(tw, f)
		}
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
		done <- err
	}()
	rc, err := s.eng.ImageImport(ctx, image.ImportSource{Source: pr, SourceName: "-"}, s.ref, image.ImportOptions{
		Changes: []string{`CMD ["/xo", "pause"]`, "LABEL xo.ingress.image=true"},
		Message: "xo ingress container: the xo binary as its own pause process",
	})
	if err == nil {
		err = jsonmessage.DisplayJSONMessagesStream(rc, io.Discard, 0, false, nil)
		rc.Close()
	}
	pr.Close()
	werr := <-done
	if err != nil {
		return fmt.Errorf("ingress: import image %s into the engine: %w", s.ref, err)
	}
	if werr != nil && !errors.Is(werr, io.ErrClosedPipe) {
		return fmt.Errorf("ingress: write image %s: %w", s.ref, werr)
	}
	return nil
}

// pruneOld removes the images of older xo binaries; one still in use
// stays (the engine refuses).
func (s *selfImage) pruneOld(ctx context.Context) {
	list, err := s.eng.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("reference", ImageRepo))})
	if err != nil {
		return
	}
	for _, im := range list {
		for _, tag := range im.RepoTags {
			if strings.HasPrefix(tag, ImageRepo+":") && tag != s.ref {
				_, _ = s.eng.ImageRemove(ctx, tag, image.RemoveOptions{PruneChildren: true})
			}
		}
	}
}
