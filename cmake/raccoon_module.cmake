# raccoon_module(NAME SOURCES ... DEPENDS ...): one static library per module,
# exposing include/ and compiled with our warnings.
function(raccoon_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPENDS" ${ARGN})
  add_library(raccoon_${name} STATIC ${ARG_SOURCES})
  target_include_directories(raccoon_${name} PUBLIC ${PROJECT_SOURCE_DIR}/include)
  target_compile_options(raccoon_${name} PRIVATE ${RACCOON_WARNINGS} ${RACCOON_OPTIMIZE})
  target_link_libraries(raccoon_${name} PUBLIC ${ARG_DEPENDS})
endfunction()
