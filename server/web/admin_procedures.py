"""The procedure catalogue in the administration (managers and admins): the list by field in the
centre's service order, add, edit, hide or show, move up or down, import a CSV or XLSX file
(replacing the catalogue, all or nothing) and export it.

The checks are `server.catalogue_rules`'s and the writes `server.catalogue_writes`'s, one
`catalogue_changed` event each; this module only reads forms and words the problems. There
is no delete: a procedure is hidden (its address keeps working when it is shown again), and
an import removes what its file does not list.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from queuebox.catalogue import LIMITS
from server.catalogue_files import CatalogueFileError, FileProblem, read_catalogue, to_csv, to_xlsx
from server.catalogue_rules import TEXT_FIELDS, Problem, ordered
from server.catalogue_store import get_procedure, load_procedures
from server.catalogue_writes import CatalogueError, UnknownProcedure, move, replace_all, save, set_hidden
from server.web import admin_voice
from server.web.auth import role_required
from server.web.common import get_engine
from server.web.i18n import N_, _
from server.web.surfaces import UPLOAD_PATHS

managers = role_required("admin", "manager")
# server.catalogue_rules.MESSAGES, in the manager's words (same placeholders)
MESSAGES = {
    "required": N_("Required"),
    "too_long": N_("At most %(max)s characters (this has %(n)s)"),
    "document_too_long": N_("Document %(line)s is over %(max)s characters"),
    "unknown_service": N_("%(value)s is not the code of a service (fields: %(known)s)"),
    "duplicate_code": N_("Procedure code %(value)s is used by another procedure"),
    "bad_url": N_("Must be an address beginning with http:// or https://"),
    "bad_yes_no": N_("Write Có or Không (yes/no, x or 1/0), not %(value)s"),
    "formula": N_("A spreadsheet formula: write the text itself"),
    "too_many": N_("At most %(max)s procedures (this has %(n)s)"),
    "too_big": N_("The file has %(n)s bytes; at most %(max)s (2 MB)"),
    "empty": N_("The file is empty: nothing to import"),
    "not_a_table": N_("The file is neither CSV nor XLSX (%(detail)s)"),
    "not_utf8": N_("The CSV is not UTF-8 text: save it as \"CSV UTF-8\""),
    "missing_column": N_("Column %(column)s is missing"),
    "unknown_column": N_("Column %(column)s is not known (columns: %(known)s)"),
    "no_rows": N_("The file has a header but no procedure"),
}
ACTIONS = ("hide", "show", "up", "down")


def message(problem: Problem) -> str:
    return _(MESSAGES[problem.code], **problem.values)


def file_message(problem: FileProblem) -> str:
    text = message(problem.problem)
    if not problem.line:
        return text
    return _("Line %(line)s, %(column)s: %(problem)s", line=problem.line, column=problem.column, problem=text)


def _actor() -> str:
    return f"web/{current_user.login}"


def procedures_list(problems: list[str] | None = None) -> Any:
    engine = get_engine()
    services = engine.config.services
    listed = engine.read(lambda conn: load_procedures(conn, include_hidden=True))
    groups: dict[str, list[Any]] = {s.code: [] for s in services}
    for p in ordered(listed, [s.code for s in services]):
        groups.setdefault(p.service, []).append(p)
    names = {s.code: s.name_vi for s in services}
    return render_template("admin/procedures.html", groups=groups, names=names, problems=problems or [],
                           total=len(listed)), 422 if problems else 200


def procedure_new() -> Any:
    return _form(None)


def procedure_edit(procedure_id: int) -> Any:
    return _form(procedure_id)


def _form(procedure_id: int | None) -> Any:
    engine = get_engine()
    fields: dict[str, Any] = {"service": request.args.get("service", "")}
    if procedure_id is not None:
        procedure = engine.read(lambda conn: get_procedure(conn, procedure_id))
        if procedure is None:
            abort(404)
        fields = {**procedure.__dict__, "code": procedure.code or "", "documents": "\n".join(procedure.documents)}
    errors: dict[str, str] = {}
    if request.method == "POST":
        fields = {key: str(request.form.get(key, "")) for key in TEXT_FIELDS}
        fields["on_the_spot"] = request.form.get("on_the_spot") == "1"
        try:
            save(engine, _actor(), fields, on_the_spot=fields["on_the_spot"], procedure_id=procedure_id)
        except UnknownProcedure:
            abort(404)
        except CatalogueError as exc:
            for problem in exc.problems:
                errors.setdefault(problem.field, message(problem))
        else:
            flash(_("Saved."))
            return redirect(url_for("admin.procedures_list") + f"#field-{fields['service'].upper()}")
    services = [(s.code, f"{s.code} · {s.name_vi}") for s in engine.config.services]
    if fields.get("service") and fields["service"] not in dict(services):
        services.append((fields["service"], fields["service"]))
    return render_template("admin/procedure_form.html", procedure_id=procedure_id, fields=fields, errors=errors,
                           services=services, limits=LIMITS), 422 if errors else 200


def procedure_action(procedure_id: int, action: str) -> Any:
    """Hide, show, or move one place up or down (the list's buttons)."""
    if action not in ACTIONS:
        abort(404)
    engine = get_engine()
    try:
        if action in ("hide", "show"):
            set_hidden(engine, _actor(), procedure_id, action == "hide")
        else:
            move(engine, _actor(), procedure_id, -1 if action == "up" else 1)
    except UnknownProcedure:
        abort(404)
    return redirect(url_for("admin.procedures_list") + f"#procedure-{procedure_id}")


def procedures_import() -> Any:
    """Replace the catalogue with the uploaded file; every problem listed, nothing changed, if any."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return procedures_list([_("Choose a CSV or XLSX file to import.")])
    try:
        data = upload.stream.read()
    finally:
        upload.close()
    engine = get_engine()
    try:
        procedures = read_catalogue(data, [s.code for s in engine.config.services])
        replace_all(engine, _actor(), procedures)
    except CatalogueFileError as exc:
        return procedures_list([file_message(p) for p in exc.problems])
    except CatalogueError as exc:
        return procedures_list([message(p) for p in exc.problems])
    flash(_("Imported %(n)s procedures from %(file)s.", n=len(procedures), file=upload.filename))
    return redirect(url_for("admin.procedures_list"))


def procedures_export(kind: str) -> Any:
    engine = get_engine()
    listed = ordered(engine.read(lambda conn: load_procedures(conn, include_hidden=True)),
                     [s.code for s in engine.config.services])
    if kind == "csv":
        body, mimetype = to_csv(listed), "text/csv; charset=utf-8"
    elif kind == "xlsx":
        body, mimetype = to_xlsx(listed), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        abort(404)
    return Response(body, mimetype=mimetype,
                    headers={"Content-Disposition": f"attachment; filename=procedures.{kind}"})


def too_large(exc: Exception) -> Any:
    """An upload past MAX_UPLOAD_BODY (e.g. a 9 MB file) is answered on the page it was sent from."""
    if request.path in UPLOAD_PATHS and current_user.is_authenticated and current_user.role in ("admin", "manager"):
        if request.path == admin_voice.IMPORT_PATH:
            return admin_voice.voice_page([_("The upload is over 8 MB: send the clips in several ZIP files.")])
        return procedures_list([_("The file is over 2 MB: split the list or remove what is not needed.")])
    return render_template("error.html", status=413, message=_("The request is too large.")), 413


def register(bp: Blueprint) -> None:
    """Add the catalogue pages to the administration's blueprint."""
    for rule, view, methods in (
            ("/procedures", procedures_list, ["GET"]),
            ("/procedures/new", procedure_new, ["GET", "POST"]),
            ("/procedures/<int:procedure_id>/edit", procedure_edit, ["GET", "POST"]),
            ("/procedures/<int:procedure_id>/<action>", procedure_action, ["POST"]),
            ("/procedures/import", procedures_import, ["POST"]),
            ("/procedures/export.<kind>", procedures_export, ["GET"])):
        bp.add_url_rule(rule, view_func=managers(view), methods=methods, endpoint=view.__name__)
    bp.register_error_handler(413, too_large)
