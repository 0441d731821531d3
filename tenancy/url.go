package tenancy

import (
	"fmt"
	"net/url"
)

// AppRole is the run-time role migrations create.
const AppRole = "deskwoot_app"

// AppURL derives the app role's connection from the owner's by switching the
// user to deskwoot_app (with password when given).
func AppURL(ownerURL, password string) (string, error) {
	u, err := url.Parse(ownerURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("DATABASE_URL must be a postgres:// URL to derive the app connection from; set DESKWOOT_APP_DATABASE_URL instead")
	}
	if password != "" {
		u.User = url.UserPassword(AppRole, password)
	} else {
		u.User = url.User(AppRole)
	}
	return u.String(), nil
}
