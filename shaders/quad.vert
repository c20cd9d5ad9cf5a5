#version 330 core
// A screen rectangle drawn as a 4-vertex triangle strip with no vertex buffer:
// the corner comes from gl_VertexID. u_rect = (x0, y0, x1, y1) in normalised
// device coordinates. v_uv.y = 0 at the top so that texture row 0 (the first
// row uploaded, the image's top row) is drawn at the top.
uniform vec4 u_rect;
out vec2 v_uv;

void main() {
    vec2 c = vec2(float(gl_VertexID & 1), float((gl_VertexID >> 1) & 1));
    v_uv = vec2(c.x, 1.0 - c.y);
    gl_Position = vec4(mix(u_rect.xy, u_rect.zw, c), 0.0, 1.0);
}
