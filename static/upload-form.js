/* Upload form: the new-dataset fields show only while "A new dataset…" is chosen, and ticking
 * "no header row" opens the column mapping (columns are then named by number). The form
 * works the same without this script.
 */
(function () {
  "use strict";
  var choice = document.getElementById("dataset");
  var fields = document.getElementById("new-dataset");
  if (choice && fields) {
    var sync = function () { fields.hidden = choice.value !== "__new__"; };
    choice.addEventListener("change", sync);
    sync();
  }
  var noHeader = document.getElementById("no_header");
  var mapping = document.getElementById("column-mapping");
  if (noHeader && mapping) {
    noHeader.addEventListener("change", function () { if (noHeader.checked) mapping.open = true; });
  }
})();
