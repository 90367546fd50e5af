package app

import (
	"sort"
	"strings"

	"unicode"

	"golang.org/x/text/language"
	"golang.org/x/text/language/display"
	"golang.org/x/text/unicode/norm"
)

// Regional rooms are named by country code ("region-es"); the app shows
// them as "ES — Spain", the country named in the language in use.
//
// The names come from golang.org/x/text/language/display, which holds
// CLDR's names: the module is already the app's (number and date
// formats), the names are maintained there for every country, and only
// the dictionaries of the shipped languages are linked. A table of our
// own would put some 250 names in each language file of the catalogue for
// translators to keep.

// regionNamers are the dictionaries of the shipped languages, by base
// language; any other language (the pseudo-locale) names them in English.
var regionNamers = map[string]display.Namer{
	"en": display.English.Regions(),
	"es": display.Spanish.Regions(),
	"pt": display.BrazilianPortuguese.Regions(),
	"de": display.German.Regions(),
}

// countryName is the name of the country with ISO 3166 code cc in the
// language in use, or "" when the code names no country.
func countryName(cc string) string {
	r, err := language.ParseRegion(cc)
	if err != nil || !r.IsCountry() {
		return ""
	}
	base, _ := currentLanguage().Base()
	n := regionNamers[base.String()]
	if n == nil {
		n = regionNamers["en"]
	}
	return n.Name(r)
}

// regionLabel is how a region shows: "ES — Spain", or the code alone when
// it names no country this version knows.
func regionLabel(cc string) string {
	cc = strings.ToUpper(cc)
	if name := countryName(cc); name != "" {
		return cc + " \u2014 " + name
	}
	return cc
}

// region is one choice of the directory's region filter.
type region struct {
	code  string // ISO 3166 alpha-2, upper case
	label string // regionLabel(code)
}

// regions are every country as the directory's filter offers it, sorted
// by name in the language in use.
func regions() []region {
	var out []region
	for a := 'A'; a <= 'Z'; a++ {
		for b := 'A'; b <= 'Z'; b++ {
			cc := string([]rune{a, b})
			if countryName(cc) == "" {
				continue
			}
			out = append(out, region{code: cc, label: regionLabel(cc)})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		return sortKey(countryName(out[i].code)) < sortKey(countryName(out[j].code))
	})
	return out
}

// sortKey orders names as a reader looks them up: without case or
// accents, so "Österreich" sorts among the O's. (Full collation would
// link CLDR's collation tables, megabytes, for one menu.)
func sortKey(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		if !unicode.Is(unicode.Mn, r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}
