# Google Cloud Pub/Sub's gRPC API as the library raccoon_pubsub_proto: its .proto
# files come from two jars on Maven Central (scripts/pubsub/pom.xml names them),
# fetched once into the cache dir ${RACCOON_CACHE_DIR:-~/.cache/raccoon}, never
# into the repository, and compiled with protoc and gRPC's plugin as ours are.

file(READ ${PROJECT_SOURCE_DIR}/scripts/pubsub/pom.xml pubsub_pom)
string(REGEX MATCH "<pubsub.protos.version>([^<]+)<" _ "${pubsub_pom}")
set(pubsub_protos_version ${CMAKE_MATCH_1})
string(REGEX MATCH "<common.protos.version>([^<]+)<" _ "${pubsub_pom}")
set(common_protos_version ${CMAKE_MATCH_1})

if(DEFINED ENV{RACCOON_CACHE_DIR})
  set(raccoon_cache_dir $ENV{RACCOON_CACHE_DIR})
elseif(DEFINED ENV{XDG_CACHE_HOME})
  set(raccoon_cache_dir $ENV{XDG_CACHE_HOME}/raccoon)
else()
  set(raccoon_cache_dir $ENV{HOME}/.cache/raccoon)
endif()
set(pubsub_protos_dir
  ${raccoon_cache_dir}/pubsub-protos-${pubsub_protos_version}-${common_protos_version})

if(NOT EXISTS ${pubsub_protos_dir}/.complete)
  find_program(MAVEN mvn REQUIRED)
  message(STATUS "Fetching Pub/Sub's .proto files from Maven Central into ${pubsub_protos_dir}")
  file(REMOVE_RECURSE ${pubsub_protos_dir})
  execute_process(
    COMMAND ${MAVEN} -q -B -f ${PROJECT_SOURCE_DIR}/scripts/pubsub/pom.xml
      dependency:copy-dependencies -DexcludeTransitive=true
      -DoutputDirectory=${pubsub_protos_dir}/jars
    RESULT_VARIABLE maven_result
    OUTPUT_VARIABLE maven_output
    ERROR_VARIABLE maven_output)
  if(NOT maven_result EQUAL 0)
    message(FATAL_ERROR "Could not fetch Pub/Sub's .proto files with Maven:\n${maven_output}")
  endif()
  file(GLOB pubsub_jars ${pubsub_protos_dir}/jars/*.jar)
  foreach(jar ${pubsub_jars})
    file(ARCHIVE_EXTRACT INPUT ${jar} DESTINATION ${pubsub_protos_dir}/proto PATTERNS "*.proto")
  endforeach()
  file(TOUCH ${pubsub_protos_dir}/.complete)
endif()

set(pubsub_proto_sources
  google/api/annotations.proto google/api/client.proto google/api/field_behavior.proto
  google/api/http.proto google/api/launch_stage.proto google/api/resource.proto
  google/pubsub/v1/pubsub.proto google/pubsub/v1/schema.proto)
set(pubsub_generated_dir ${CMAKE_BINARY_DIR}/pubsub_proto)
set(pubsub_generated)
set(pubsub_proto_files)
foreach(proto ${pubsub_proto_sources})
  string(REGEX REPLACE "\\.proto$" "" stem ${proto})
  list(APPEND pubsub_generated ${pubsub_generated_dir}/${stem}.pb.cc ${pubsub_generated_dir}/${stem}.pb.h)
  list(APPEND pubsub_proto_files ${pubsub_protos_dir}/proto/${proto})
endforeach()
list(APPEND pubsub_generated
  ${pubsub_generated_dir}/google/pubsub/v1/pubsub.grpc.pb.cc
  ${pubsub_generated_dir}/google/pubsub/v1/pubsub.grpc.pb.h)

add_custom_command(
  OUTPUT ${pubsub_generated}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${pubsub_generated_dir}
  COMMAND protobuf::protoc
    --proto_path=${pubsub_protos_dir}/proto
    --proto_path=${Protobuf_INCLUDE_DIRS}
    --cpp_out=${pubsub_generated_dir}
    ${pubsub_proto_sources}
  COMMAND protobuf::protoc
    --proto_path=${pubsub_protos_dir}/proto
    --proto_path=${Protobuf_INCLUDE_DIRS}
    --grpc_out=${pubsub_generated_dir}
    --plugin=protoc-gen-grpc=$<TARGET_FILE:gRPC::grpc_cpp_plugin>
    google/pubsub/v1/pubsub.proto
  WORKING_DIRECTORY ${pubsub_protos_dir}/proto
  DEPENDS ${pubsub_proto_files} protobuf::protoc gRPC::grpc_cpp_plugin
  COMMENT "Generating C++ code from Pub/Sub's .proto files")

list(FILTER pubsub_generated INCLUDE REGEX "\\.cc$")
add_library(raccoon_pubsub_proto STATIC ${pubsub_generated})
target_include_directories(raccoon_pubsub_proto SYSTEM PUBLIC ${pubsub_generated_dir})
target_link_libraries(raccoon_pubsub_proto PUBLIC protobuf::libprotobuf gRPC::grpc++)
