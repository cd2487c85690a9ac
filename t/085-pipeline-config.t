# Pipeline configuration: mesh_pipeline blocks are checked at `nginx -t`
# with one clear line for each mistake (--- must_die, the error_log
# pattern is the message), and a good block is served back exactly by
# GET /mesh/v1/pipelines, defaults filled in.
use strict;
use warnings;

use Test::Nginx::Socket;
use Mesh::Orch;
use Mesh::Pipeline;

Mesh::Pipeline::suite();

repeat_each(1);
plan tests => Mesh::Orch::count_tests();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: every step parameter, mesh_pipeline_buffer and mesh_pipeline_max_steps, listed back
--- http_config eval
Mesh::Orch::http_config(<<'_EOC_')
    mesh_pipeline_max_steps 3;
    mesh_pipeline_buffer 64k;
    mesh_pipeline all-params {
        step type=vision "prompt=Look: {{input}}" "system=Be brief." max_output=1k;
        step model=mistral:7b "prompt={{step1}} / {{previous}}" "options={\"num_predict\":5,\"temperature\":0}";
        step type=code model=codellama:7b "prompt={{step2}}";
    }
_EOC_
--- request
GET /mesh/v1/pipelines
--- response_body
{"pipelines":[{"name":"all-params","steps":[{"type":"vision","prompt":"Look: {{input}}","system":"Be brief.","max_output":1024},{"model":"mistral:7b","prompt":"{{step1}} / {{previous}}","options":{"num_predict":5,"temperature":0},"max_output":65536},{"type":"code","model":"codellama:7b","prompt":"{{step2}}","max_output":65536}]}],"max_steps":3}
--- no_error_log
[error]
[warn]



=== TEST 2: an unknown template variable
--- http_config
    mesh_pipeline p {
        step type=text "prompt=Hello {{nope}}";
    }
--- config
--- must_die
--- error_log
mesh_pipeline "p": step 1: unknown variable "{{nope}}" in the prompt in



=== TEST 3: a pipeline without steps
--- http_config
    mesh_pipeline p {
    }
--- config
--- must_die
--- error_log
mesh_pipeline "p" has no steps in



=== TEST 4: a step with neither type nor model
--- http_config
    mesh_pipeline p {
        step type=text "prompt=a";
        step "prompt=b {{previous}}";
    }
--- config
--- must_die
--- error_log
mesh_pipeline "p": step 2 has neither a type nor a model in



=== TEST 5: more steps than mesh_pipeline_max_steps (set after the block)
--- http_config
    mesh_pipeline p {
        step type=text prompt=a;
        step type=text prompt=b;
        step type=text prompt=c;
    }
    mesh_pipeline_max_steps 2;
--- config
--- must_die
--- error_log
mesh_pipeline "p" has 3 steps, more than mesh_pipeline_max_steps 2 in



=== TEST 6: more steps than the default mesh_pipeline_max_steps, 8
--- http_config eval
"    mesh_pipeline p {\n" . ("        step type=text prompt=a;\n" x 9) . "    }\n"
--- config
--- must_die
--- error_log
mesh_pipeline "p" has 9 steps, more than mesh_pipeline_max_steps 8 in



=== TEST 7: two pipelines of one name
--- http_config
    mesh_pipeline p {
        step type=text prompt=a;
    }
    mesh_pipeline p {
        step type=text prompt=b;
    }
--- config
--- must_die
--- error_log
duplicate mesh_pipeline "p" in



=== TEST 8: a quoted value instead of a quoted parameter
--- http_config
    mesh_pipeline p {
        step type=text prompt="Describe this";
    }
--- config
--- must_die
--- error_log
mesh_pipeline "p": step 1: quote the whole parameter, as in "prompt=...", not its value in



=== TEST 9: an unknown step type
--- http_config
    mesh_pipeline p {
        step type=embedding prompt=a;
    }
--- config
--- must_die
--- error_log
mesh_pipeline "p": step 1: "type" must be code, vision, summarize or text in



=== TEST 10: options that are not a JSON object
--- http_config
    mesh_pipeline p {
        step type=text prompt=a options=[1];
    }
--- config
--- must_die
--- error_log
mesh_pipeline "p": step 1: "options" must be an object in



=== TEST 11: options that are not JSON
--- http_config
    mesh_pipeline p {
        step type=text prompt=a "options={num_predict:1}";
    }
--- config
--- must_die
--- error_log
mesh_pipeline "p": step 1: invalid JSON at byte



=== TEST 12: a max_output that is not a size
--- http_config
    mesh_pipeline p {
        step type=text prompt=a max_output=17m;
    }
--- config
--- must_die
--- error_log
mesh_pipeline "p": step 1: "max_output" must be a size from 1 to 16m (bytes, or with k or m) in



=== TEST 13: {{previous}} in the first step
--- http_config
    mesh_pipeline p {
        step type=text "prompt=a {{previous}}";
    }
--- config
--- must_die
--- error_log
mesh_pipeline "p": step 1: "{{previous}}" has no step before it in



=== TEST 14: {{stepN}} of a step that runs later
--- http_config
    mesh_pipeline p {
        step type=text prompt=a;
        step type=text "prompt={{step3}}";
        step type=text prompt=c;
    }
--- config
--- must_die
--- error_log
mesh_pipeline "p": step 2: "{{step3}}" does not run before it in



=== TEST 15: an unknown step parameter
--- http_config
    mesh_pipeline p {
        step type=text prompt=a temperature=0;
    }
--- config
--- must_die
--- error_log
mesh_pipeline "p": step 1: invalid parameter "temperature=0" in



=== TEST 16: another directive in a mesh_pipeline block
--- http_config
    mesh_pipeline p {
        stage type=text prompt=a;
    }
--- config
--- must_die
--- error_log
unknown directive "stage" in mesh_pipeline "p": only "step" belongs there in



=== TEST 17: a pipeline name outside [A-Za-z0-9._-]
--- http_config
    mesh_pipeline "a b" {
        step type=text prompt=a;
    }
--- config
--- must_die
--- error_log
invalid pipeline name "a b": 1-63 characters from [A-Za-z0-9._-] in



=== TEST 18: mesh_pipelines needs the URI of the step location
--- http_config
    mesh_zone mesh 1m;
--- config
    location /mesh/v1/pipelines {
        mesh_pipelines step;
    }
--- must_die
--- error_log
invalid parameter "step", expected the URI of a location with "mesh_route task" in



=== TEST 19: mesh_pipeline_max_steps beyond 64
--- http_config
    mesh_pipeline_max_steps 65;
--- config
--- must_die
--- error_log
value must be between 1 and 64 in
