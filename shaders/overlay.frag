#version 330 core
// HUD and help overlay: an RGBA8 texture (text drawn on the CPU), alpha-blended.
in vec2 v_uv;
out vec4 frag;
uniform sampler2D u_tex;

void main() {
    frag = texture(u_tex, v_uv);
}
