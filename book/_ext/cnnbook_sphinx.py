"""Sphinx fixes for the book, loaded through `sphinx.local_extensions` in _config.yml.

sphinx-thebe (which Jupyter Book 1 always loads) adds its configuration script each
time the environment is read, so a page can end up declaring ``const THEBE_JS_URL``
twice, a JavaScript error on every page. This drops repeated identical scripts from
each page, keeping the first.
"""


def _drop_repeated_scripts(app, pagename, templatename, context, doctree):
    seen = set()
    unique = []
    for script in context.get("script_files", []):
        # The same file, or inline body (its filename None or ""), with the same attributes.
        filename = getattr(script, "filename", script) or ""
        key = (str(filename), str(getattr(script, "attributes", "")))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    # Late, after the theme and other extensions have added their scripts.
    app.connect("html-page-context", _drop_repeated_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
