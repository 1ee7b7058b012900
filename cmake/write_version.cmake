# Writes OUTPUT, a header naming the version and the commit built, only when
# they changed, so a build after a commit names it without recompiling more.
# COMMIT, when given, names the commit (an image build has no .git).
set(commit "${COMMIT}")
if(commit STREQUAL "")
  execute_process(COMMAND git rev-parse --short=12 HEAD
    WORKING_DIRECTORY ${SOURCE_DIR}
    OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE
    ERROR_QUIET RESULT_VARIABLE lookup)
  # A tree without git and no COMMIT says so.
  if(NOT lookup EQUAL 0 OR commit STREQUAL "")
    set(commit unknown)
  endif()
endif()
file(WRITE ${OUTPUT}.new
  "#pragma once\n#define RACCOON_VERSION \"${VERSION}\"\n#define RACCOON_COMMIT \"${commit}\"\n")
file(COPY_FILE ${OUTPUT}.new ${OUTPUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUTPUT}.new)
