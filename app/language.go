package app

// The user's language. Every string a person reads goes through Fyne's lang
// package (lang.L, lang.X with template data, lang.N for plurals), keyed by
// its English text as gettext does: the English reads in the code, and a
// changed English sentence is a new key, so no translation goes stale
// silently. The translations are JSON files in go-i18n's format,
// translations/<area>.<language>.json (an area per window or part, so
// changes to different windows meet in different files), embedded and
// registered at start.
// language_test.go holds the catalogue to the code: every key used here is
// in every file, no file keeps a key the code dropped, templates name the
// same fields in every language, and plurals have their forms.
//
// Numbers, sizes, days and times follow the chosen language too, through
// golang.org/x/text (decimal commas, grouping) and the catalogue (day and
// month names, "Today").

import (
	"embed"
	"fmt"
	"os"
	"sync"
	"time"

	"fyne.io/fyne/v2/lang"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

//go:embed translations
var translations embed.FS

// Language is one language EServer ships.
type Language struct {
	// Code is the BCP 47 tag ("pt-BR"); "" is the system's language.
	Code string
	// Name is the language's name in itself, as a chooser lists it.
	Name string
}

// Languages are the languages Options offers, the system's first.
var Languages = []Language{
	{"", ""},                        // named by systemLanguageName, in the language in use
	{"en", "English"},               // not translated: a language's own name
	{"es", "Español"},               // not translated: a language's own name
	{"pt-BR", "Português (Brasil)"}, // not translated: a language's own name
	{"de", "Deutsch"},               // not translated: a language's own name
}

// shipped are the tags of Languages, English first: the fallback when the
// system asks for a language EServer does not have.
var shipped = []language.Tag{language.English, language.Spanish, language.BrazilianPortuguese, language.German}

var (
	langMu sync.RWMutex
	// langTag is the language in use, for formatting numbers and dates.
	langTag = language.English
)

// UseLanguage registers EServer's translations with Fyne and picks code
// ("" follows the system, as Fyne does; otherwise one of Languages). Call
// it once at start, before any window is built: Fyne reads the language
// when it registers translations, and text already on screen stays as it
// was, which is why Options applies a new choice at the next start.
func UseLanguage(code string) error {
	if code != "" {
		if _, err := language.Parse(code); err != nil {
			return fmt.Errorf("language %q: %w", code, err)
		}
		preferLanguage(code)
	}
	if err := lang.AddTranslationsFS(translations, "translations"); err != nil {
		return fmt.Errorf("loading translations: %w", err)
	}
	tag := matchLanguage(code)
	langMu.Lock()
	langTag = tag
	langMu.Unlock()
	return nil
}

// preferLanguage makes code the first language Fyne's locale lookup sees.
// Fyne reads the gettext variables (LANGUAGE, then LC_ALL, LC_MESSAGES,
// LANG): LANGUAGE wins unless the locale is "C" or "POSIX", which turns
// translation off, so then LC_MESSAGES must name a language too.
// Only messages change: LC_ALL, which would reach the C libraries and the
// programs we start, is left alone.
func preferLanguage(code string) {
	os.Setenv("LANGUAGE", code)                                   // not translated: environment
	for _, v := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} { // not translated: environment
		switch os.Getenv(v) {
		case "":
			continue
		case "C", "POSIX", "C.UTF-8", "C.utf8": // not translated: locale names
			if v == "LC_ALL" { // not translated: environment
				return // the user turned translation off for everything
			}
			os.Setenv(v, code)
		}
		return
	}
	os.Setenv("LC_MESSAGES", code) // not translated: environment
}

// matchLanguage is the shipped language closest to code, or to the
// system's language when code is "".
func matchLanguage(code string) language.Tag {
	want := code
	if want == "" {
		want = lang.SystemLocale().String()
	}
	t, err := language.Parse(want)
	if err != nil {
		return language.English
	}
	_, i, conf := language.NewMatcher(shipped).Match(t)
	if conf == language.No {
		return language.English
	}
	return shipped[i]
}

// currentLanguage is the language in use.
func currentLanguage() language.Tag {
	langMu.RLock()
	defer langMu.RUnlock()
	return langTag
}

// systemLanguageName is how Options names "follow the system".
func systemLanguageName() string { return lang.L("System language") }

// languageName names code in the chooser.
func languageName(code string) string {
	for _, l := range Languages {
		if l.Code == code && code != "" {
			return l.Name
		}
	}
	return systemLanguageName()
}

// printer formats numbers in the language in use: "1.5" in English, "1,5"
// in Spanish, Portuguese and German.
func printer() *message.Printer { return message.NewPrinter(currentLanguage()) }

// sizeText is n bytes in the unit people read, in their language's digits.
func sizeText(n int64) string {
	p := printer()
	switch {
	case n >= 1<<30:
		return lang.L("{{.N}} GB", map[string]any{"N": p.Sprintf("%.1f", float64(n)/(1<<30))})
	case n >= 1<<20:
		return lang.L("{{.N}} MB", map[string]any{"N": p.Sprintf("%.1f", float64(n)/(1<<20))})
	case n >= 1<<10:
		return lang.L("{{.N}} KB", map[string]any{"N": p.Sprintf("%d", n>>10)})
	default:
		return lang.N("{{.N}} bytes", int(min(n, 1<<30)), map[string]any{"N": p.Sprintf("%d", n)})
	}
}

// etaText is a time left as people say it.
func etaText(d time.Duration) string {
	switch {
	case d < time.Minute:
		return lang.L("{{.N}} s", map[string]any{"N": int(d.Seconds() + 0.5)})
	case d < time.Hour:
		return lang.L("{{.N}} min", map[string]any{"N": int(d.Minutes() + 0.5)})
	default:
		return lang.L("{{.N}} h", map[string]any{"N": printer().Sprintf("%.1f", d.Hours())})
	}
}

// weekdayName and monthName are the calendar's names in the language in
// use; Go's time package knows only English ones.
func weekdayName(d time.Weekday) string {
	switch d {
	case time.Monday:
		return lang.L("Monday")
	case time.Tuesday:
		return lang.L("Tuesday")
	case time.Wednesday:
		return lang.L("Wednesday")
	case time.Thursday:
		return lang.L("Thursday")
	case time.Friday:
		return lang.L("Friday")
	case time.Saturday:
		return lang.L("Saturday")
	default:
		return lang.L("Sunday")
	}
}

func monthName(m time.Month) string {
	switch m {
	case time.January:
		return lang.L("January")
	case time.February:
		return lang.L("February")
	case time.March:
		return lang.L("March")
	case time.April:
		return lang.L("April")
	case time.May:
		return lang.L("May")
	case time.June:
		return lang.L("June")
	case time.July:
		return lang.L("July")
	case time.August:
		return lang.L("August")
	case time.September:
		return lang.L("September")
	case time.October:
		return lang.L("October")
	case time.November:
		return lang.L("November")
	default:
		return lang.L("December")
	}
}

// dateText is a calendar day written out: "Monday 23 November 2026",
// "lunes, 23 de noviembre de 2026"; each language orders it in its file.
func dateText(t time.Time) string {
	t = t.Local()
	return lang.L("{{.Weekday}} {{.Day}} {{.Month}} {{.Year}}", map[string]any{
		"Weekday": weekdayName(t.Weekday()), "Day": t.Day(), "Month": monthName(t.Month()), "Year": t.Year(),
	})
}

// dayLabel names day as a separator does: "Today", "Yesterday", or the
// date written out, in local time.
func dayLabel(day, now time.Time) string {
	day, now = day.Local(), now.Local()
	switch {
	case sameDay(day, now):
		return lang.L("Today")
	case sameDay(day, now.AddDate(0, 0, -1)):
		return lang.L("Yesterday")
	}
	return dateText(day)
}

// dateTimeText is a moment written out with its 24-hour time, the year
// only when it is not this one: "23 November, 15:04", "23 de noviembre de
// 2025, 15:04", in local time.
func dateTimeText(t time.Time) string {
	t = t.Local()
	if t.Year() == time.Now().Year() {
		return lang.L("{{.Day}} {{.Month}}, {{.Time}}", map[string]any{"Day": t.Day(), "Month": monthName(t.Month()), "Time": t.Format("15:04")})
	}
	return lang.L("{{.Day}} {{.Month}} {{.Year}}, {{.Time}}", map[string]any{
		"Day": t.Day(), "Month": monthName(t.Month()), "Year": t.Year(), "Time": t.Format("15:04"),
	})
}

// clockText is a time of day as the chat and the history show it before a
// message, 24-hour in every language: "15:04", in local time.
func clockText(t time.Time) string { return t.Local().Format("15:04") }

// shortWeekdayName and shortMonthName are the calendar's short names in
// the language in use ("Mon", "Jan"), for dates where space is tight.
func shortWeekdayName(d time.Weekday) string {
	switch d {
	case time.Monday:
		return lang.L("Mon")
	case time.Tuesday:
		return lang.L("Tue")
	case time.Wednesday:
		return lang.L("Wed")
	case time.Thursday:
		return lang.L("Thu")
	case time.Friday:
		return lang.L("Fri")
	case time.Saturday:
		return lang.L("Sat")
	default:
		return lang.L("Sun")
	}
}

func shortMonthName(m time.Month) string {
	switch m {
	case time.January:
		return lang.L("Jan")
	case time.February:
		return lang.L("Feb")
	case time.March:
		return lang.L("Mar")
	case time.April:
		return lang.L("Apr")
	case time.May:
		// "May" is the full name's key already; the short one may differ.
		return lang.X("May (short)", "May")
	case time.June:
		return lang.L("Jun")
	case time.July:
		return lang.L("Jul")
	case time.August:
		return lang.L("Aug")
	case time.September:
		return lang.L("Sep")
	case time.October:
		return lang.L("Oct")
	case time.November:
		return lang.L("Nov")
	default:
		return lang.L("Dec")
	}
}

// shortDateTimeText is a moment with its day in short, as history search
// results show it: "Mon 2 Jan 2006 15:04", "lun, 2 ene 2006, 15:04", in
// local time; each language orders it in its file.
func shortDateTimeText(t time.Time) string {
	t = t.Local()
	return lang.L("{{.Weekday}} {{.Day}} {{.Month}} {{.Year}} {{.Time}}", map[string]any{
		"Weekday": shortWeekdayName(t.Weekday()), "Day": t.Day(), "Month": shortMonthName(t.Month()),
		"Year": t.Year(), "Time": clockText(t),
	})
}
