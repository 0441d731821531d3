package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/tenancy"
)

// auditCmd is `deskwoot audit verify | export | key`.
func auditCmd(ctx context.Context, args []string) error {
	sub := ""
	if len(args) > 0 {
		sub = args[0]
	}
	switch sub {
	case "export":
		return auditExportCmd(ctx, args[1:])
	case "verify":
		return auditVerifyCmd(ctx, args[1:])
	case "key":
		return auditKeyCmd(ctx, args[1:])
	}
	return errors.New("audit: say verify --account N, verify --file EXPORT.jsonl --key PUBKEY, export --account N --since TIME, or key [--private | --new]")
}

// auditVerifyCmd recomputes an account's whole chain in the database
// (DATABASE_URL = the owner), or checks an export offline against the
// server's public key.
func auditVerifyCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	dbURL := fs.String("database-url", env("DATABASE_URL", ""), "PostgreSQL URL of the owner (DATABASE_URL)")
	acct := fs.String("account", "", "account id")
	seal := fs.Bool("seal", true, "seal committed rows first")
	file := fs.String("file", "", "a JSON-lines audit export to verify offline (- reads standard input); needs --key")
	key := fs.String("key", "", "with --file: the server's public key, base64 (GET /api/v1/audit/checkpoints, deskwoot audit key)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *file != "" {
		if *acct != "" {
			return errors.New("audit verify: --file checks an export offline; leave out --account")
		}
		return verifyExportFile(*file, *key)
	}
	id, err := strconv.ParseInt(*acct, 10, 64)
	if err != nil || id <= 0 {
		return errors.New("audit verify: --account must be an account id, or give --file EXPORT.jsonl --key PUBKEY")
	}
	db, err := tenancy.Open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if *seal {
		if _, err := audit.Seal(ctx, db, id); err != nil {
			return err
		}
	}
	res, err := audit.Verify(ctx, db, id)
	if err != nil {
		return err
	}
	if err := printJSON(res); err != nil {
		return err
	}
	if !res.OK {
		return fmt.Errorf("audit chain of account %d is broken: %s", id, res.Problem)
	}
	return nil
}

// verifyExportFile prints the offline check of an export and fails naming
// its first bad line.
func verifyExportFile(path, key string) error {
	if key == "" {
		return errors.New("audit verify: --file needs --key, the server's public key (GET /api/v1/audit/checkpoints or deskwoot audit key prints it)")
	}
	pub, err := audit.ParsePublicKey(key)
	if err != nil {
		return fmt.Errorf("audit verify: --key: %w", err)
	}
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("audit verify: %w", err)
		}
		defer f.Close()
		r = f
	}
	rep, err := audit.VerifyExport(r, pub)
	if err != nil {
		return fmt.Errorf("audit verify: read %s: %w", path, err)
	}
	if err := printJSON(rep); err != nil {
		return err
	}
	if !rep.OK {
		return fmt.Errorf("export %s does not verify: %s", path, rep.Problem)
	}
	return nil
}

// auditKeyCmd prints the public half of the signing key migrate stored
// (DATABASE_URL = the owner), with --private the key itself in the form
// DESKWOOT_AUDIT_SIGNING_KEY takes, or with --new a fresh key pair.
func auditKeyCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("audit key", flag.ContinueOnError)
	dbURL := fs.String("database-url", env("DATABASE_URL", ""), "PostgreSQL URL of the owner (DATABASE_URL)")
	private := fs.Bool("private", false, "also print the stored key as DESKWOOT_AUDIT_SIGNING_KEY=…, to hand it to serve")
	fresh := fs.Bool("new", false, "print a new key pair instead (touches no database)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var key ed25519.PrivateKey
	if *fresh {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		key, *private = k, true
	} else {
		if *dbURL == "" {
			return errors.New("audit key: set DATABASE_URL to the owner connection, or say --new")
		}
		conn, err := pgx.Connect(ctx, *dbURL)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		if key, err = audit.StoredKey(ctx, conn); err != nil {
			return err
		}
	}
	fmt.Println("public key:", audit.EncodePublicKey(key.Public().(ed25519.PublicKey)))
	if *private {
		fmt.Println("DESKWOOT_AUDIT_SIGNING_KEY=" + audit.EncodeSigningKey(key))
	}
	return nil
}

// signingKeyFromEnv is DESKWOOT_AUDIT_SIGNING_KEY, nil when unset.
func signingKeyFromEnv() (ed25519.PrivateKey, error) {
	v := os.Getenv("DESKWOOT_AUDIT_SIGNING_KEY")
	if v == "" {
		return nil, nil
	}
	return audit.ParseSigningKey(v)
}
