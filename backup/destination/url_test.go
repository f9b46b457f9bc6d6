package destination

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestOpenRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url, reason string
	}{
		{"", "no scheme"},
		{"/var/backups", "no scheme"},
		{"backups", "no scheme"},
		{"ftp://host/dir", `unsupported scheme "ftp"`},
		{"file:relative/dir", "relative path"},
		{"file://relative/dir", `host "relative"`},
		{"file://", "no directory"},
		{"file:///", "root directory"},
		{"file:///abs/dir?mode=0700", "no query parameters"},
		{"file://user:hunter2@localhost/abs", "no user information"},
		{"file:///abs#frag", "fragment"},
		{"s3://", "no bucket"},
		{"s3:///path?region=us-east-1", "no bucket"},
		{"s3://?region=us-east-1", "no bucket"},
		{"s3://Bad_Bucket?region=us-east-1", "not a valid bucket name"},
		{"s3://bucket:9000?region=us-east-1", "takes no port"},
		{"s3://bucket/prefix?region=us-east-1", "path inside the bucket"},
		{"s3://bucket?regoin=us-east-1", `unknown parameter "regoin"`},
		{"s3://bucket?region=a&region=b", "given 2 times"},
		{"s3://bucket?endpoint=127.0.0.1:9000", "endpoint"},
		{"s3://bucket?endpoint=ftp://host", "endpoint"},
		{"s3://bucket?endpoint=http://u:hunter2@host", "not in the endpoint"},
		{"s3://bucket?endpoint=http://h&use_path_style=maybe", "use_path_style"},
		{"s3://bucket?endpoint=http://h&request_checksum_calculation=never", "request_checksum_calculation"},
		{"s3://onlykey@bucket?endpoint=http://h", "both parts"},
		{"s3://AKIAEXAMPLE:hunter2@bucket?endpoint=http://h&bogus=1", "unknown parameter"},
		{"s3://AKIAEXAMPLE:hun/ter2@bucket?endpoint=http://h", "not a valid URL"},
		{"s3://bucket?region=%zz", "malformed query"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			t.Parallel()
			d, err := Open(context.Background(), tc.url)
			if err == nil {
				d.Close()
				t.Fatal("Open succeeded")
			}
			var ue *URLError
			if !errors.As(err, &ue) {
				t.Fatalf("%v (%T), want a *URLError", err, err)
			}
			if !strings.Contains(ue.Reason, tc.reason) {
				t.Fatalf("reason %q, want it to say %q", ue.Reason, tc.reason)
			}
			for _, secret := range []string{"hunter2", "hun/ter2", "ter2"} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("%q shows the credentials", err)
				}
			}
			if tc.url != "" && ue.URL == "" {
				t.Fatalf("%q does not name the URL", err)
			}
		})
	}
}

func TestOpenS3(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url, shown string
		pathStyle  bool
	}{
		{
			url:       "s3://AKIAEXAMPLE:se%2Fcret@my-bucket?region=eu-west-1&endpoint=http://127.0.0.1:9000",
			shown:     "s3://my-bucket?endpoint=http://127.0.0.1:9000&region=eu-west-1",
			pathStyle: true,
		},
		{
			url:       "s3://AKIAEXAMPLE:secret@my.bucket.example?region=eu-west-1",
			shown:     "s3://my.bucket.example?region=eu-west-1",
			pathStyle: false,
		},
		{
			url:       "s3://AKIAEXAMPLE:secret@my-bucket?endpoint=https://s3.example.com&use_path_style=false&request_checksum_calculation=when_required",
			shown:     "s3://my-bucket?endpoint=https://s3.example.com&request_checksum_calculation=when_required&use_path_style=false",
			pathStyle: false,
		},
	} {
		d, err := Open(context.Background(), tc.url)
		if err != nil {
			t.Fatalf("Open(%s): %v", tc.url, err)
		}
		if d.String() != tc.shown {
			t.Errorf("String() = %q, want %q", d.String(), tc.shown)
		}
		if got := d.s3.Options().UsePathStyle; got != tc.pathStyle {
			t.Errorf("%s: path style %v, want %v", tc.url, got, tc.pathStyle)
		}
		if d.s3.Options().Region == "" {
			t.Errorf("%s: no region", tc.url)
		}
		d.Close()
	}
}

func TestOpenS3DefaultRegion(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	d, err := Open(context.Background(), "s3://k:s@bucket?endpoint=http://127.0.0.1:9000")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if got := d.s3.Options().Region; got != "us-east-1" {
		t.Fatalf("region %q, want us-east-1 for a store of its own endpoint", got)
	}
	_, err = Open(context.Background(), "s3://k:s@bucket")
	var ue *URLError
	if !errors.As(err, &ue) || !strings.Contains(ue.Reason, "no region") {
		t.Fatalf("Open of an AWS bucket without a region: %v", err)
	}
}
