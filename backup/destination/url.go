package destination

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/s3blob"
)

// How long the S3 client waits, and how often it tries, before it calls a
// store unavailable: a refused connection fails in about two seconds, an
// unreachable host in about ten, a store that stops sending in a minute.
const (
	dialTimeout      = 3 * time.Second
	handshakeTimeout = 5 * time.Second
	readTimeout      = time.Minute
	maxAttempts      = 3
	maxBackoff       = time.Second
	// abortTimeout bounds the abort of a failed multipart upload, which
	// runs even when the caller's context has ended.
	abortTimeout = 30 * time.Second
)

// dirMode is the mode of the directories a file destination creates:
// backups hold tenants' data.
const dirMode = 0o700

// s3Params are the query parameters an s3 URL may carry; the names are
// gocloud.dev's.
var s3Params = []string{
	"disable_https", "endpoint", "profile", "region",
	"request_checksum_calculation", "response_checksum_validation", "use_path_style",
}

// bucketName matches the S3 rules for bucket names (3 to 63 lower-case
// letters, digits, dots and hyphens, starting and ending with a letter or
// digit).
var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// Open parses and opens a destination URL:
//
//   - file:///abs/dir — a directory on this machine, created (mode 0700) if
//     missing. The URL takes no host (other than localhost) and no query.
//   - s3://bucket?region=R&endpoint=URL — a bucket of any S3-compatible store.
//     The query parameters (names as gocloud.dev's) are: region (defaults
//     to us-east-1 when endpoint is set, else to the AWS configuration);
//     endpoint (http:// or https:// URL of a store other than AWS);
//     use_path_style (true|false; defaults to true when endpoint is set);
//     disable_https; profile (a shared AWS configuration profile);
//     request_checksum_calculation and response_checksum_validation
//     (when_supported|when_required; when_required for stores that lack the
//     newer checksums). Credentials come from the URL's user information
//     (s3://ACCESS_KEY_ID:SECRET_ACCESS_KEY@bucket, percent-encoded) or,
//     without it, from the AWS SDK's usual sources (AWS_ACCESS_KEY_ID and
//     AWS_SECRET_ACCESS_KEY, the shared files, the instance role).
//
// Open does not contact the store: an s3 destination that is down or
// refuses the credentials fails at the first operation. A URL that cannot
// be used is a *URLError, which names it without its credentials.
func Open(ctx context.Context, rawURL string) (*Destination, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, &URLError{URL: redactRaw(rawURL), Reason: parseReason(rawURL, err)}
	}
	shown := redact(u)
	bad := func(format string, args ...any) error {
		return &URLError{URL: shown, Reason: fmt.Sprintf(format, args...)}
	}
	if u.Fragment != "" || strings.HasSuffix(rawURL, "#") {
		return nil, bad("a fragment (#…) is not allowed")
	}
	switch u.Scheme {
	case "file":
		return openFile(u, bad)
	case "s3":
		return openS3(ctx, u, shown, bad)
	case "":
		return nil, bad("no scheme: use file:///absolute/dir or s3://bucket?region=…")
	default:
		return nil, bad("unsupported scheme %q: use file:///absolute/dir or s3://bucket?region=…", u.Scheme)
	}
}

// openFile opens a file:// destination.
func openFile(u *url.URL, bad func(string, ...any) error) (*Destination, error) {
	switch {
	case u.User != nil:
		return nil, bad("a file URL takes no user information")
	case u.Opaque != "":
		return nil, bad("relative path %q: write file:///absolute/dir", u.Opaque)
	case u.Host != "" && u.Host != "localhost":
		return nil, bad("host %q: a file URL names a directory on this machine; write file:///absolute/dir (three slashes)", u.Host)
	case u.RawQuery != "" || u.ForceQuery:
		return nil, bad("a file URL takes no query parameters")
	case u.Path == "" || !strings.HasPrefix(u.Path, "/"):
		return nil, bad("no directory: write file:///absolute/dir")
	}
	dir := filepath.Clean(u.Path)
	if dir == "/" {
		return nil, bad("the root directory cannot hold backups: name a directory of their own")
	}
	d := &Destination{url: (&url.URL{Scheme: "file", Path: dir}).String(), dir: dir}
	b, err := fileblob.OpenBucket(dir, &fileblob.Options{
		CreateDir:   true,
		DirFileMode: dirMode,
		// Temporary files go next to the final file, so that the rename
		// that publishes an object never crosses file systems; List hides
		// them.
		NoTempDir: true,
		Metadata:  fileblob.MetadataDontWrite,
	})
	if err != nil {
		return nil, &Error{Op: "open", Destination: d.url, Class: classify(context.Background(), err), Err: err}
	}
	d.bucket = b
	return d, nil
}

// openS3 opens an s3:// destination.
func openS3(ctx context.Context, u *url.URL, shown string, bad func(string, ...any) error) (*Destination, error) {
	switch {
	case u.Host == "":
		return nil, bad("no bucket: write s3://bucket?region=…")
	case u.Port() != "":
		return nil, bad("the host names the bucket and takes no port; put the store's address in endpoint=")
	case !bucketName.MatchString(u.Host) || strings.Contains(u.Host, ".."):
		return nil, bad("%q is not a valid bucket name (3 to 63 lower-case letters, digits, dots and hyphens)", u.Host)
	case u.Path != "" && u.Path != "/":
		return nil, bad("a path inside the bucket is not supported: the URL names the bucket only")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, bad("malformed query: %v", err)
	}
	for name, values := range q {
		if !slices.Contains(s3Params, name) {
			return nil, bad("unknown parameter %q (known: %s)", name, strings.Join(s3Params, ", "))
		}
		if len(values) != 1 {
			return nil, bad("parameter %q given %d times", name, len(values))
		}
	}
	boolParam := func(name string, def bool) (bool, error) {
		v := q.Get(name)
		if v == "" {
			return def, nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, bad("%s=%q: want true or false", name, v)
		}
		return b, nil
	}

	endpoint := q.Get("endpoint")
	if endpoint != "" {
		e, err := url.Parse(endpoint)
		switch {
		case err == nil && e.User != nil:
			return nil, bad("endpoint: credentials go before the bucket (s3://ACCESS_KEY_ID:SECRET_ACCESS_KEY@bucket), not in the endpoint")
		case err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" || e.RawQuery != "" || e.Fragment != "":
			return nil, bad("endpoint %q: want http://host:port or https://host:port", endpoint)
		}
	}
	pathStyle, err := boolParam("use_path_style", endpoint != "")
	if err != nil {
		return nil, err
	}
	noHTTPS, err := boolParam("disable_https", false)
	if err != nil {
		return nil, err
	}

	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(awshttp.NewBuildableClient().
			WithDialerOptions(func(d *net.Dialer) { d.Timeout = dialTimeout }).
			WithTransportOptions(func(t *http.Transport) { t.TLSHandshakeTimeout = handshakeTimeout }).
			WithReadTimeout(readTimeout)),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = maxAttempts
				o.MaxBackoff = maxBackoff
				// No client-side retry quota: once spent it would hide
				// the store's own error behind "retry quota exceeded".
				o.RateLimiter = ratelimit.None
			})
		}),
	}
	region := q.Get("region")
	if region == "" && endpoint != "" {
		region = "us-east-1"
	}
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	if p := q.Get("profile"); p != "" {
		opts = append(opts, config.WithSharedConfigProfile(p))
	}
	if u.User != nil {
		secret, ok := u.User.Password()
		if u.User.Username() == "" || !ok || secret == "" {
			return nil, bad("credentials in the URL need both parts: s3://ACCESS_KEY_ID:SECRET_ACCESS_KEY@bucket")
		}
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(u.User.Username(), secret, "")))
	}
	switch v := q.Get("request_checksum_calculation"); v {
	case "":
	case "when_supported":
		opts = append(opts, config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenSupported))
	case "when_required":
		opts = append(opts, config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired))
	default:
		return nil, bad("request_checksum_calculation=%q: want when_supported or when_required", v)
	}
	switch v := q.Get("response_checksum_validation"); v {
	case "":
	case "when_supported":
		opts = append(opts, config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenSupported))
	case "when_required":
		opts = append(opts, config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired))
	default:
		return nil, bad("response_checksum_validation=%q: want when_supported or when_required", v)
	}

	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, bad("AWS configuration: %v", err)
	}
	if cfg.Region == "" {
		return nil, bad("no region: add region=… to the URL or set AWS_REGION")
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.UsePathStyle = pathStyle
		o.EndpointOptions.DisableHTTPS = noHTTPS
		// A multipart object has no whole-object checksum to validate;
		// reading one is no reason for a warning on every Get.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	b, err := s3blob.OpenBucket(ctx, client, u.Host, &s3blob.Options{
		RequestChecksumCalculation: cfg.RequestChecksumCalculation,
	})
	if err != nil {
		return nil, bad("%v", err)
	}
	return &Destination{url: shown, bucket: b, s3: client, bucketName: u.Host, checksum: cfg.RequestChecksumCalculation}, nil
}

// redact returns u without credentials (its own user information and an
// endpoint's), the query sorted and readable.
func redact(u *url.URL) string {
	c := *u
	c.User = nil
	if c.RawQuery != "" {
		if q, err := url.ParseQuery(c.RawQuery); err == nil {
			for _, e := range q["endpoint"] {
				if eu, err := url.Parse(e); err == nil && eu.User != nil {
					eu.User = nil
					q.Set("endpoint", eu.String())
				}
			}
			c.RawQuery = encodeQuery(q)
		}
	}
	return c.String()
}

// queryValue escapes a query value as url.QueryEscape does, but keeps the
// ":" and "/" that the query of a URL allows, so that an endpoint reads as
// one.
var queryValue = strings.NewReplacer("%3A", ":", "%2F", "/")

// encodeQuery is url.Values.Encode with readable values.
func encodeQuery(q url.Values) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(q)) {
		for _, v := range q[k] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(url.QueryEscape(k) + "=" + queryValue.Replace(url.QueryEscape(v)))
		}
	}
	return b.String()
}

// redactRaw hides what may be credentials in a URL that did not parse:
// everything between "//" and the last "@" before the query.
func redactRaw(raw string) string {
	i := strings.Index(raw, "//")
	if i < 0 {
		return raw
	}
	head := raw
	if q := strings.IndexAny(raw, "?#"); q >= 0 {
		head = raw[:q]
	}
	if at := strings.LastIndex(head, "@"); at > i {
		return raw[:i+2] + "REDACTED" + raw[at:]
	}
	return raw
}

// parseReason explains a url.Parse failure, without its text when the URL
// may carry credentials (the text quotes the URL).
func parseReason(raw string, err error) string {
	if redactRaw(raw) != raw {
		return "not a valid URL (percent-encode the credentials' special characters)"
	}
	if ue, ok := err.(*url.Error); ok {
		return "not a valid URL: " + ue.Err.Error()
	}
	return "not a valid URL"
}
