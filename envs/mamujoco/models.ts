/**
 * MJCF models of the Gymnasium v5 MuJoCo robots, written for Baton from the published facts
 * of Gymnasium's assets (gymnasium/envs/mujoco/assets/{half_cheetah,hopper,walker2d_v5,ant,
 * swimmer}.xml) and env classes (`*_v5.py`): bodies, joints and ranges, stiffness and damping,
 * actuator gears and control ranges, integrator, timestep, densities, friction and start
 * heights. Differences in form, not in physics: every model is in local coordinates (the
 * original Hopper and Walker2d use the removed `coordinate="global"` compiler option; their
 * body frames here sit at the joints, which changes no qpos, qvel or reward), and visual-only
 * elements (materials, lights, cameras) are left out. Each model loads in MuJoCo 3.3.8
 * (mujoco-js) and in Debian's libmujoco 2.2.2 (the native benchmark).
 *
 * @module
 */

/** HalfCheetah: planar, 9 DoF (rootx, rootz, rooty + 6 hinges), 6 motors; timestep 0.01. */
export const HALF_CHEETAH = `<mujoco model="half_cheetah">
  <compiler angle="radian" inertiafromgeom="true" settotalmass="14"/>
  <default>
    <joint armature=".1" damping=".01" limited="true" solimplimit="0 .8 .03" solreflimit=".02 1" stiffness="8"/>
    <geom conaffinity="0" condim="3" contype="1" friction=".4 .1 .1" solimp="0.0 0.8 0.01" solref="0.02 1"/>
    <motor ctrllimited="true" ctrlrange="-1 1"/>
  </default>
  <option gravity="0 0 -9.81" timestep="0.01"/>
  <worldbody>
    <geom conaffinity="1" condim="3" name="floor" pos="0 0 0" size="40 40 40" type="plane"/>
    <body name="torso" pos="0 0 .7">
      <joint armature="0" axis="1 0 0" damping="0" limited="false" name="rootx" pos="0 0 0" stiffness="0" type="slide"/>
      <joint armature="0" axis="0 0 1" damping="0" limited="false" name="rootz" pos="0 0 0" stiffness="0" type="slide"/>
      <joint armature="0" axis="0 1 0" damping="0" limited="false" name="rooty" pos="0 0 0" stiffness="0" type="hinge"/>
      <geom fromto="-.5 0 0 .5 0 0" name="torso" size="0.046" type="capsule"/>
      <geom axisangle="0 1 0 .87" name="head" pos=".6 0 .1" size="0.046 .15" type="capsule"/>
      <body name="bthigh" pos="-.5 0 0">
        <joint axis="0 1 0" damping="6" name="bthigh" pos="0 0 0" range="-.52 1.05" stiffness="240" type="hinge"/>
        <geom axisangle="0 1 0 -3.8" name="bthigh" pos=".1 0 -.13" size="0.046 .145" type="capsule"/>
        <body name="bshin" pos=".16 0 -.25">
          <joint axis="0 1 0" damping="4.5" name="bshin" pos="0 0 0" range="-.785 .785" stiffness="180" type="hinge"/>
          <geom axisangle="0 1 0 -2.03" name="bshin" pos="-.14 0 -.07" size="0.046 .15" type="capsule"/>
          <body name="bfoot" pos="-.28 0 -.14">
            <joint axis="0 1 0" damping="3" name="bfoot" pos="0 0 0" range="-.4 .785" stiffness="120" type="hinge"/>
            <geom axisangle="0 1 0 -.27" name="bfoot" pos=".03 0 -.097" size="0.046 .094" type="capsule"/>
          </body>
        </body>
      </body>
      <body name="fthigh" pos=".5 0 0">
        <joint axis="0 1 0" damping="4.5" name="fthigh" pos="0 0 0" range="-1 .7" stiffness="180" type="hinge"/>
        <geom axisangle="0 1 0 .52" name="fthigh" pos="-.07 0 -.12" size="0.046 .133" type="capsule"/>
        <body name="fshin" pos="-.14 0 -.24">
          <joint axis="0 1 0" damping="3" name="fshin" pos="0 0 0" range="-1.2 .87" stiffness="120" type="hinge"/>
          <geom axisangle="0 1 0 -.6" name="fshin" pos=".065 0 -.09" size="0.046 .106" type="capsule"/>
          <body name="ffoot" pos=".13 0 -.18">
            <joint axis="0 1 0" damping="1.5" name="ffoot" pos="0 0 0" range="-.5 .5" stiffness="60" type="hinge"/>
            <geom axisangle="0 1 0 -.6" name="ffoot" pos=".045 0 -.07" size="0.046 .07" type="capsule"/>
          </body>
        </body>
      </body>
    </body>
  </worldbody>
  <actuator>
    <motor gear="120" joint="bthigh" name="bthigh"/>
    <motor gear="90" joint="bshin" name="bshin"/>
    <motor gear="60" joint="bfoot" name="bfoot"/>
    <motor gear="120" joint="fthigh" name="fthigh"/>
    <motor gear="60" joint="fshin" name="fshin"/>
    <motor gear="30" joint="ffoot" name="ffoot"/>
  </actuator>
</mujoco>`;

/** Hopper: planar, 6 DoF, 3 motors gear 200; RK4, timestep 0.002. */
export const HOPPER = `<mujoco model="hopper">
  <compiler angle="degree" inertiafromgeom="true"/>
  <default>
    <joint armature="1" damping="1" limited="true"/>
    <geom conaffinity="1" condim="1" contype="1" margin="0.001" solimp=".8 .8 .01" solref=".02 1"/>
    <motor ctrllimited="true" ctrlrange="-.4 .4"/>
  </default>
  <option integrator="RK4" timestep="0.002"/>
  <worldbody>
    <geom conaffinity="1" condim="3" name="floor" pos="0 0 0" size="20 20 .125" type="plane"/>
    <body name="torso" pos="0 0 1.25">
      <joint armature="0" axis="1 0 0" damping="0" limited="false" name="rootx" pos="0 0 0" stiffness="0" type="slide"/>
      <joint armature="0" axis="0 0 1" damping="0" limited="false" name="rootz" pos="0 0 0" ref="1.25" stiffness="0" type="slide"/>
      <joint armature="0" axis="0 1 0" damping="0" limited="false" name="rooty" pos="0 0 0" stiffness="0" type="hinge"/>
      <geom friction="0.9" fromto="0 0 .2 0 0 -.2" name="torso_geom" size="0.05" type="capsule"/>
      <body name="thigh" pos="0 0 -.2">
        <joint axis="0 -1 0" name="thigh_joint" pos="0 0 0" range="-150 0" type="hinge"/>
        <geom friction="0.9" fromto="0 0 0 0 0 -.45" name="thigh_geom" size="0.05" type="capsule"/>
        <body name="leg" pos="0 0 -.45">
          <joint axis="0 -1 0" name="leg_joint" pos="0 0 0" range="-150 0" type="hinge"/>
          <geom friction="0.9" fromto="0 0 0 0 0 -.5" name="leg_geom" size="0.04" type="capsule"/>
          <body name="foot" pos="0 0 -.5">
            <joint axis="0 -1 0" name="foot_joint" pos="0 0 0" range="-45 45" type="hinge"/>
            <geom friction="2.0" fromto="-.13 0 0 .26 0 0" name="foot_geom" size="0.06" type="capsule"/>
          </body>
        </body>
      </body>
    </body>
  </worldbody>
  <actuator>
    <motor ctrllimited="true" ctrlrange="-1.0 1.0" gear="200.0" joint="thigh_joint"/>
    <motor ctrllimited="true" ctrlrange="-1.0 1.0" gear="200.0" joint="leg_joint"/>
    <motor ctrllimited="true" ctrlrange="-1.0 1.0" gear="200.0" joint="foot_joint"/>
  </actuator>
</mujoco>`;

function walkerLeg(side: string, friction: number): string {
  return `<body name="thigh${side}" pos="0 0 -.2">
        <joint axis="0 -1 0" name="thigh${side}_joint" pos="0 0 0" range="-150 0" type="hinge"/>
        <geom friction="0.9" fromto="0 0 0 0 0 -.45" name="thigh${side}_geom" size="0.05" type="capsule"/>
        <body name="leg${side}" pos="0 0 -.45">
          <joint axis="0 -1 0" name="leg${side}_joint" pos="0 0 0" range="-150 0" type="hinge"/>
          <geom friction="0.9" fromto="0 0 0 0 0 -.5" name="leg${side}_geom" size="0.04" type="capsule"/>
          <body name="foot${side}" pos="0 0 -.5">
            <joint axis="0 -1 0" name="foot${side}_joint" pos="0 0 0" range="-45 45" type="hinge"/>
            <geom friction="${friction}" fromto="0 0 0 .2 0 0" name="foot${side}_geom" size="0.06" type="capsule"/>
          </body>
        </body>
      </body>`;
}

/** Walker2d (v5: both feet friction 1.9): planar, 9 DoF, 6 motors gear 100; RK4, 0.002. */
export const WALKER2D = `<mujoco model="walker2d">
  <compiler angle="degree" inertiafromgeom="true"/>
  <default>
    <joint armature="0.01" damping=".1" limited="true"/>
    <geom conaffinity="0" condim="3" contype="1" density="1000" friction=".7 .1 .1"/>
  </default>
  <option integrator="RK4" timestep="0.002"/>
  <worldbody>
    <geom conaffinity="1" condim="3" name="floor" pos="0 0 0" size="40 40 40" type="plane"/>
    <body name="torso" pos="0 0 1.25">
      <joint armature="0" axis="1 0 0" damping="0" limited="false" name="rootx" pos="0 0 0" stiffness="0" type="slide"/>
      <joint armature="0" axis="0 0 1" damping="0" limited="false" name="rootz" pos="0 0 0" ref="1.25" stiffness="0" type="slide"/>
      <joint armature="0" axis="0 1 0" damping="0" limited="false" name="rooty" pos="0 0 0" stiffness="0" type="hinge"/>
      <geom friction="0.9" fromto="0 0 .2 0 0 -.2" name="torso_geom" size="0.05" type="capsule"/>
      ${walkerLeg("", 1.9)}
      ${walkerLeg("_left", 1.9)}
    </body>
  </worldbody>
  <actuator>
    <motor ctrllimited="true" ctrlrange="-1.0 1.0" gear="100" joint="thigh_joint"/>
    <motor ctrllimited="true" ctrlrange="-1.0 1.0" gear="100" joint="leg_joint"/>
    <motor ctrllimited="true" ctrlrange="-1.0 1.0" gear="100" joint="foot_joint"/>
    <motor ctrllimited="true" ctrlrange="-1.0 1.0" gear="100" joint="thigh_left_joint"/>
    <motor ctrllimited="true" ctrlrange="-1.0 1.0" gear="100" joint="leg_left_joint"/>
    <motor ctrllimited="true" ctrlrange="-1.0 1.0" gear="100" joint="foot_left_joint"/>
  </actuator>
</mujoco>`;

/** Swimmer: 3 links in a viscous plane, 5 DoF, 2 motors gear 150; RK4, timestep 0.01. */
export const SWIMMER = `<mujoco model="swimmer">
  <compiler angle="degree" inertiafromgeom="true"/>
  <option density="4000" integrator="RK4" timestep="0.01" viscosity="0.1"/>
  <default>
    <geom conaffinity="0" condim="1" contype="0"/>
    <joint armature="0.1"/>
  </default>
  <worldbody>
    <geom conaffinity="0" contype="0" condim="3" name="floor" pos="0 0 -0.1" size="40 40 0.1" type="plane"/>
    <body name="torso" pos="0 0 0">
      <geom density="1000" fromto="1.5 0 0 0.5 0 0" size="0.1" type="capsule"/>
      <joint axis="1 0 0" name="slider1" pos="0 0 0" type="slide"/>
      <joint axis="0 1 0" name="slider2" pos="0 0 0" type="slide"/>
      <joint axis="0 0 1" name="free_body_rot" pos="0 0 0" type="hinge"/>
      <body name="mid" pos="0.5 0 0">
        <geom density="1000" fromto="0 0 0 -1 0 0" size="0.1" type="capsule"/>
        <joint axis="0 0 1" limited="true" name="motor1_rot" pos="0 0 0" range="-100 100" type="hinge"/>
        <body name="back" pos="-1 0 0">
          <geom density="1000" fromto="0 0 0 -1 0 0" size="0.1" type="capsule"/>
          <joint axis="0 0 1" limited="true" name="motor2_rot" pos="0 0 0" range="-100 100" type="hinge"/>
        </body>
      </body>
    </body>
  </worldbody>
  <actuator>
    <motor ctrllimited="true" ctrlrange="-1 1" gear="150.0" joint="motor1_rot"/>
    <motor ctrllimited="true" ctrlrange="-1 1" gear="150.0" joint="motor2_rot"/>
  </actuator>
</mujoco>`;

function antLeg(n: number, dx: number, dy: number, ankleAxis: string, ankleRange: string): string {
  const p = (s: number) => `${(s * dx).toFixed(1)} ${(s * dy).toFixed(1)}`;
  const names = ["front_left_leg", "front_right_leg", "back_leg", "right_back_leg"];
  return `<body name="${names[n - 1]}" pos="0 0 0">
        <geom fromto="0 0 0 ${p(0.2)} 0" name="aux_${n}_geom" size="0.08" type="capsule"/>
        <body name="aux_${n}" pos="${p(0.2)} 0">
          <joint axis="0 0 1" name="hip_${n}" pos="0 0 0" range="-30 30" type="hinge"/>
          <geom fromto="0 0 0 ${p(0.2)} 0" name="leg_${n}_geom" size="0.08" type="capsule"/>
          <body name="foot_${n}" pos="${p(0.2)} 0">
            <joint axis="${ankleAxis}" name="ankle_${n}" pos="0 0 0" range="${ankleRange}" type="hinge"/>
            <geom fromto="0 0 0 ${p(0.4)} 0" name="ankle_${n}_geom" size="0.08" type="capsule"/>
          </body>
        </body>
      </body>`;
}

/** Ant: free torso sphere + 4 legs, 15 qpos / 14 qvel, 8 motors gear 150; RK4, 0.01. */
export const ANT = `<mujoco model="ant">
  <compiler angle="degree" inertiafromgeom="true"/>
  <option integrator="RK4" timestep="0.01"/>
  <default>
    <joint armature="1" damping="1" limited="true"/>
    <geom conaffinity="0" condim="3" density="5.0" friction="1 0.5 0.5" margin="0.01"/>
  </default>
  <worldbody>
    <geom conaffinity="1" condim="3" name="floor" pos="0 0 0" size="40 40 40" type="plane"/>
    <body name="torso" pos="0 0 0.75">
      <geom name="torso_geom" pos="0 0 0" size="0.25" type="sphere"/>
      <joint armature="0" damping="0" limited="false" margin="0.01" name="root" pos="0 0 0" type="free"/>
      ${antLeg(1, 1, 1, "-1 1 0", "30 70")}
      ${antLeg(2, -1, 1, "1 1 0", "-70 -30")}
      ${antLeg(3, -1, -1, "-1 1 0", "-70 -30")}
      ${antLeg(4, 1, -1, "1 1 0", "30 70")}
    </body>
  </worldbody>
  <actuator>
    <motor ctrllimited="true" ctrlrange="-1.0 1.0" joint="hip_4" gear="150"/>
    <motor ctrllimited="true" ctrlrange="-1.0 1.0" joint="ankle_4" gear="150"/>
    <motor ctrllimited="true" ctrlrange="-1.0 1.0" joint="hip_1" gear="150"/>
    <motor ctrllimited="true" ctrlrange="-1.0 1.0" joint="ankle_1" gear="150"/>
    <motor ctrllimited="true" ctrlrange="-1.0 1.0" joint="hip_2" gear="150"/>
    <motor ctrllimited="true" ctrlrange="-1.0 1.0" joint="ankle_2" gear="150"/>
    <motor ctrllimited="true" ctrlrange="-1.0 1.0" joint="hip_3" gear="150"/>
    <motor ctrllimited="true" ctrlrange="-1.0 1.0" joint="ankle_3" gear="150"/>
  </actuator>
</mujoco>`;
